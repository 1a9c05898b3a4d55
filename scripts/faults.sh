#!/bin/sh
# Run the fault test (tests/faults/test_faults.sh) over many seeds, one after
# the other, and print one line per seed: operations, faults, violations,
# anomalies. Needs root, /dev/fuse and network namespaces (as the e2e tests).
#
#   scripts/faults.sh [-n RUNS] [-s FIRST_SEED] [-d SECONDS] [-N 3|5] [-o DIR] [SEED...]
#
#   -n RUNS      how many seeds (default 10): FIRST_SEED, FIRST_SEED+1, ...
#   -s SEED      the first seed (default: a random one)
#   -d SECONDS   seconds of faults per run (default 90; FAULTS_DURATION)
#   -N NODES     3 or 5 (default 3; FAULTS_NODES)
#   -o DIR       where each seed's report and summary go (default
#                TMPDIR/cfs-faults-DATE); a failing seed's whole run directory
#                (history, node logs and data) stays under TMPDIR, and its
#                path is in DIR/seed-S/status
#   SEED...      exactly these seeds instead
# The tests and the daemons are copied to DIR first (DIR/src, DIR/bin), so
# the tree may be edited and rebuilt while a batch runs.
# Other FAULTS_* variables (docs/testing.md) are passed through. Exit status
# 1 if any seed failed.
set -eu
cd "$(dirname "$0")/.."
runs=10 first="" duration=${FAULTS_DURATION:-90} nodes=${FAULTS_NODES:-3} out=""
while getopts n:s:d:N:o:h opt; do
	case $opt in
	n) runs=$OPTARG ;;
	s) first=$OPTARG ;;
	d) duration=$OPTARG ;;
	N) nodes=$OPTARG ;;
	o) out=$OPTARG ;;
	*) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -gt 0 ]; then
	seeds=$*
else
	[ -n "$first" ] || first=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
	seeds=$(seq "$first" $((first + runs - 1)))
fi
[ -n "$out" ] || out=${TMPDIR:-/tmp}/cfs-faults-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -d build ] || meson setup build
ninja -C build
# Run a copy of the tests and of the daemons: a long batch goes on with
# what it started with while the tree is edited and rebuilt (bash reads a
# script as it runs it).
mkdir -p "$out/src/tests" "$out/bin"
cp -r tests/faults tests/e2e "$out/src/tests/"
cp build/clusterfsd build/clusterfsctl "$out/bin/"
git rev-parse HEAD >"$out/src/commit" 2>/dev/null || true
git status --short >>"$out/src/commit" 2>/dev/null || true
export CLUSTERFSD="$out/bin/clusterfsd" CLUSTERFSCTL="$out/bin/clusterfsctl" E2E_DIR="$out/src/tests/e2e"
export FAULTS_DURATION="$duration" FAULTS_NODES="$nodes" FAULTS_RESULTS="$out"
failed=0
for seed in $seeds; do
	echo "=== seed $seed ($nodes nodes, ${duration}s of faults), log in $out/seed-$seed.log"
	if FAULTS_SEED=$seed "$out/src/tests/faults/test_faults.sh" >"$out/seed-$seed.log" 2>&1; then
		status=passed
	else
		status="FAILED (status $?)"
		failed=$((failed + 1))
	fi
	line=$(grep '^faults: seed' "$out/seed-$seed.log" | tail -n 1 || true)
	echo "$status: ${line#faults: }" | tee -a "$out/summary.txt"
	[ "$status" = passed ] || grep -E 'FAILED|VIOLATION|ANOMALY|FAIL:' "$out/seed-$seed.log" | head -n 10
done
echo "$(echo "$seeds" | wc -w) seeds, $failed failed; reports in $out"
[ "$failed" -eq 0 ]
