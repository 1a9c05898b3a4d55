#!/bin/sh
# Build the libFuzzer harnesses (tests/fuzz/, clang, -Dfuzz=true, in
# build-fuzz/) and run each for a bounded time from its seed corpus and its
# regressions. Usage: scripts/fuzz.sh [SECONDS]   (per target, default 30)
#
#   FUZZ_TARGETS="entry ns"   only these targets (default: all)
#   FUZZ_ARGS="-jobs=2 ..."   more libFuzzer flags
#   FUZZ_BUILD=DIR            build directory (default build-fuzz)
#
# New inputs the fuzzers find are kept in $FUZZ_BUILD/fuzz-corpus/TARGET
# (not in git; a later run starts from them). A crash, leak, UB report or
# timeout is written to $FUZZ_BUILD/fuzz-artifacts/TARGET/ and its path
# printed; the exit status is then non-zero. docs/testing.md ("Fuzzing")
# says how to turn it into a regression test.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-30}
build=${FUZZ_BUILD:-build-fuzz}
targets=${FUZZ_TARGETS:-entry peer ns watch handshake sealed raft_wire}
case $seconds in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS] (seconds per target, a whole number)" >&2
	exit 2
	;;
esac
if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz.sh: clang is not installed; run scripts/deps.sh (or apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
fi
if [ ! -d "$build" ] && ! CC=clang meson setup "$build" -Dfuzz=true >"${build}.setup.log" 2>&1; then
	cat "${build}.setup.log" >&2
	echo "fuzz.sh: meson setup of $build failed" >&2
	exit 1
fi
exes=""
for t in $targets; do
	exes="$exes tests/fuzz/fuzz_$t"
done
# Only the fuzzers: the rest of the tree is built and tested with gcc.
# shellcheck disable=SC2086
if ! ninja -C "$build" $exes >"$build/fuzz-build.log" 2>&1; then
	cat "$build/fuzz-build.log" >&2
	echo "fuzz.sh: building the fuzzers failed" >&2
	exit 1
fi

failed=""
for t in $targets; do
	work="$build/fuzz-corpus/$t"
	art="$build/fuzz-artifacts/$t"
	log="$build/fuzz-$t.log"
	mkdir -p "$work" "$art"
	dirs="$work tests/fuzz/corpus/$t"
	[ -d "tests/fuzz/regressions/$t" ] && dirs="$dirs tests/fuzz/regressions/$t"
	dict=""
	[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	# -timeout: one input taking longer is a hang (reported as a crash);
	# -rss_limit_mb: memory growth past this is reported too.
	# shellcheck disable=SC2086
	if "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" \
		$dict ${FUZZ_ARGS:-} $dirs >"$log" 2>&1; then
		status=ok
	else
		status=FAILED
		failed="$failed $t"
	fi
	# The last status line: "#RUNS DONE cov: N ft: N corp: N/Nb ... exec/s: N".
	line=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
	echo "fuzz $t: $status: ${line:-no progress line; see $log}"
	if [ "$status" = FAILED ]; then
		grep -E 'ERROR:|SUMMARY:|fuzz check failed' "$log" | head -n 5 | sed 's/^/    /'
		arts=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
		if [ -n "$arts" ]; then
			for a in $arts; do
				echo "    crashing input: $a"
			done
		else
			echo "    no input was saved; the log is $log"
		fi
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz.sh: failed:$failed (logs: $build/fuzz-TARGET.log; reproduce: $build/tests/fuzz/fuzz_TARGET INPUT)" >&2
	exit 1
fi
