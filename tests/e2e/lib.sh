# shellcheck shell=bash
#
# Shared helpers for the end-to-end tests: sourced by every tests/e2e/test_*.sh.
#
# A test drives real clusterfsd daemons through real FUSE mounts with plain
# shell tools. Each test gets its own temporary directory (mounts, data dirs,
# logs) and its own ports, so tests can run in parallel. On exit, whatever the
# outcome, the EXIT trap stops every daemon this test started -- by PID, never
# by name -- lazily unmounts what is left of this test's mounts and removes
# the temporary directory. On failure it prints the tail of every node's log.
#
# Environment (set by tests/e2e/meson.build):
#   CLUSTERFSD, CLUSTERFSCTL   the programs under test
#   E2E_DIR                    this directory (errno_probe.py lives here)
#   E2E_KEEP=1                 keep the temporary directory (for debugging)
#
# Node NAME lives in $TEST_TMP/NAME/{m,d,log}: mount point, data dir, stderr.

set -euo pipefail

# Debian's own tools first: the tests start many short python3 processes
# (probes, helpers, watch hooks) and time some of them, and a version
# manager's shim earlier in PATH (pyenv's takes 0.5 s per start, seconds
# under load) made mutations look slow to fail. The tests need nothing
# beyond the standard library of Debian's python3 (scripts/deps.sh).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

E2E_DIR=${E2E_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
CLUSTERFSD=${CLUSTERFSD:-$E2E_DIR/../../build/clusterfsd}
CLUSTERFSCTL=${CLUSTERFSCTL:-$E2E_DIR/../../build/clusterfsctl}
PROBE="$E2E_DIR/errno_probe.py"
TEST_NAME=$(basename "$0" .sh)

# How long a node may take to become ready, and to stop after SIGTERM (the
# daemon drains requests for up to the commit timeout + 1 s).
NODE_START_TIMEOUT=${NODE_START_TIMEOUT:-20}
NODE_STOP_TIMEOUT=${NODE_STOP_TIMEOUT:-15}

declare -A NODE_PID=()  # NAME -> PID of the running (or last) daemon
declare -A NODE_ADDR=() # NAME -> HOST:PORT it was first started with
declare -a EXTRA_PIDS=() # helper processes to kill at exit (listeners, loops)
declare -a CHECK_FAILURES=() # failed check(s), see check()
declare -A NODE_ID=()   # NAME -> node id (.cluster/self), read when it is ready
declare -A NODE_WRAP=() # NAME -> command prefix for its daemon (e.g. nsenter --net=...)
declare -A NODE_FUSE=() # NAME -> its mount's FUSE connection (device minor), when ready
declare -a NETNS_CREATED=() # network namespaces this test created, deleted at exit

say() { printf '%s: %s\n' "$TEST_NAME" "$*" >&2; }

fail() {
	printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
	exit 1
}

skip() {
	printf '%s: SKIP: %s\n' "$TEST_NAME" "$*" >&2
	exit 77
}

# --- prerequisites -------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || skip "needs root (FUSE mounts with allow_other)"
[ -c /dev/fuse ] || skip "needs /dev/fuse"
[ -x "$CLUSTERFSD" ] || fail "CLUSTERFSD=$CLUSTERFSD is not executable (build first)"
[ -x "$CLUSTERFSCTL" ] || fail "CLUSTERFSCTL=$CLUSTERFSCTL is not executable"
command -v python3 >/dev/null || skip "needs python3"
if ! command -v getfattr >/dev/null || ! command -v setfattr >/dev/null; then
	skip "needs getfattr/setfattr (package attr)"
fi

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cfs-e2e-$TEST_NAME.XXXXXX")
TEST_TMP=$(realpath "$TEST_TMP") # /proc/mounts shows resolved paths

# --- sanitizers -------------------------------------------------------------------
#
# With programs built with -Db_sanitize=address,undefined (build-asan, see
# docs/testing.md "Sanitizers"), every clusterfsd, clusterfsctl and
# clusterfs-watch this test starts writes its sanitizer reports to
# $TEST_TMP/sanitizer/report.PID (whatever the test does with its stderr),
# and an error ends it with a non-zero status. cleanup fails the test if
# any report was written and shows them. Without a sanitizer build these
# variables change nothing. Set ASAN_OPTIONS etc. yourself to override.
SANITIZER_DIR=$TEST_TMP/sanitizer
mkdir -p "$SANITIZER_DIR"
: "${ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:exitcode=66:detect_leaks=1:log_path=$SANITIZER_DIR/report}"
: "${UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=66:log_path=$SANITIZER_DIR/report}"
: "${LSAN_OPTIONS=exitcode=66:suppressions=$E2E_DIR/lsan.supp:print_suppressions=0}"
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

# sanitizer_check: show every sanitizer report written so far (with the node
# whose daemon wrote it, when known); returns 1 if there is any.
sanitizer_check() {
	local f pid name who found=0
	for f in "$SANITIZER_DIR"/report.*; do
		[ -s "$f" ] || continue
		pid=${f##*.}
		who="pid $pid"
		name=$(awk -v p="$pid" '$1 == p { print $2 }' "$SANITIZER_DIR/pids" 2>/dev/null)
		[ -z "$name" ] || who="$name (pid $pid)"
		say "SANITIZER REPORT of $who ($f):"
		cat "$f" >&2
		found=1
	done
	return "$found"
}

# --- cleanup --------------------------------------------------------------------

pid_alive() {
	local pid=$1 t state
	[ -n "$pid" ] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	# A zombie is dead for our purposes -- but only once every thread is:
	# the main thread of a killed process is a zombie while another thread
	# of it is still stuck (and then `wait` would block).
	for t in /proc/"$pid"/task/*/stat; do
		state=$(awk '{print $3}' "$t" 2>/dev/null) || continue
		[ -n "$state" ] && [ "$state" != Z ] && return 0
	done
	return 1
}

# pid_stuck_threads PID: one line per thread of PID that is not a zombie:
# tid, state, wait channel and the top of its kernel stack.
pid_stuck_threads() {
	local t tid
	for t in /proc/"$1"/task/*; do
		tid=${t##*/}
		[ "$(awk '{print $3}' "$t/stat" 2>/dev/null)" = Z ] && continue
		printf 'thread %s state %s wchan %s stack: %s\n' "$tid" \
			"$(awk '{print $3}' "$t/stat" 2>/dev/null)" "$(cat "$t/wchan" 2>/dev/null)" \
			"$(head -n 6 "$t/stack" 2>/dev/null | awk '{print $2}' | tr '\n' ' ')"
	done
}

# fuse_abort CONN: abort FUSE connection CONN (/sys/fs/fuse/connections/CONN),
# mounting fusectl for the time it takes if it is not mounted. The way out
# for a FUSE server that cannot die because one of its own threads waits
# for an answer from the mount it served.
fuse_abort() {
	local conn=$1 dir=/sys/fs/fuse/connections mounted=0
	[ -n "$conn" ] || return 1
	if [ ! -e "$dir/$conn" ]; then
		mount -t fusectl fusectl "$dir" 2>/dev/null && mounted=1
	fi
	if [ -e "$dir/$conn/abort" ]; then
		echo 1 >"$dir/$conn/abort" && say "aborted FUSE connection $conn"
	fi
	[ "$mounted" = 0 ] || umount "$dir" 2>/dev/null || true
}

# Mount points of this test (under $TEST_TMP) that are still in /proc/mounts.
test_mounts() {
	awk -v pre="$TEST_TMP/" 'index($2, pre) == 1 { print $2 }' /proc/mounts
}

is_mounted() {
	local dir
	dir=$(realpath -m "$1")
	awk -v d="$dir" '$2 == d { found = 1 } END { exit !found }' /proc/mounts
}

# Stop @pid: SIGTERM, bounded wait, then SIGKILL.
stop_pid() {
	local pid=$1 i
	pid_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < NODE_STOP_TIMEOUT * 10; i++)); do
		pid_alive "$pid" || return 0
		sleep 0.1
	done
	say "pid $pid ignored SIGTERM for ${NODE_STOP_TIMEOUT}s; killing it"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		pid_alive "$pid" || return 0
		sleep 0.1
	done
}

# Stop several PIDs in parallel: SIGTERM to all, one bounded wait, then
# SIGKILL to whatever is left.
stop_pids() {
	local pid i alive
	for pid in "$@"; do
		pid_alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for ((i = 0; i < NODE_STOP_TIMEOUT * 10; i++)); do
		alive=0
		for pid in "$@"; do
			pid_alive "$pid" && alive=1
		done
		[ "$alive" = 1 ] || return 0
		sleep 0.1
	done
	for pid in "$@"; do
		if pid_alive "$pid"; then
			say "pid $pid ignored SIGTERM for ${NODE_STOP_TIMEOUT}s; killing it"
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	for ((i = 0; i < 50; i++)); do
		alive=0
		for pid in "$@"; do
			pid_alive "$pid" && alive=1
		done
		[ "$alive" = 1 ] || return 0
		sleep 0.1
	done
}

cleanup() {
	local rc=$? name pid m left f ns
	local -a pids
	set +e
	trap - EXIT
	if [ "${#CHECK_FAILURES[@]}" -gt 0 ]; then
		say "${#CHECK_FAILURES[@]} check(s) failed:"
		for f in "${CHECK_FAILURES[@]}"; do
			say "  FAILED: $f"
		done
		[ "$rc" -eq 0 ] && rc=1
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for name in "${!NODE_PID[@]}"; do
			if [ -f "$TEST_TMP/$name/log" ]; then
				say "--- last lines of node $name's log ($TEST_TMP/$name/log) ---"
				tail -n 40 "$TEST_TMP/$name/log" >&2
			fi
		done
	fi
	for pid in "${EXTRA_PIDS[@]}"; do
		pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	for pid in "${EXTRA_PIDS[@]}"; do
		# Reaped only once dead: a helper stuck on a mount dies when its
		# daemon does (below), and `wait` would block until then.
		for ((f = 0; f < 50; f++)); do
			pid_alive "$pid" || break
			sleep 0.1
		done
		pid_alive "$pid" || wait "$pid" 2>/dev/null
	done
	# All daemons at once (a cluster's members may each wait for the
	# others); a daemon a test paused (SIGSTOP) is resumed to hear SIGTERM.
	pids=()
	for name in "${!NODE_PID[@]}"; do
		pids+=("${NODE_PID[$name]}")
		pid_alive "${NODE_PID[$name]}" && kill -CONT "${NODE_PID[$name]}" 2>/dev/null
	done
	stop_pids "${pids[@]}"
	# A daemon that survived SIGKILL waits for its own mount: abort that.
	for name in "${!NODE_PID[@]}"; do
		pid=${NODE_PID[$name]}
		pid_alive "$pid" || continue
		say "node $name (pid $pid) survives SIGKILL: $(pid_stuck_threads "$pid")"
		fuse_abort "${NODE_FUSE[$name]:-}"
		for ((f = 0; f < 50; f++)); do
			pid_alive "$pid" || break
			sleep 0.1
		done
	done
	if ! sanitizer_check; then
		say "FAIL: a sanitizer reported an error (above)"
		case $rc in 0 | 77) rc=1 ;; esac
	fi
	cd / || true
	for m in $(test_mounts); do
		say "lazily unmounting leftover mount $m"
		umount -l "$m" 2>/dev/null
	done
	for ns in "${NETNS_CREATED[@]}"; do
		ip netns delete "$ns" 2>/dev/null || say "could not delete network namespace $ns"
	done
	left=$(test_mounts)
	if [ -n "$left" ]; then
		say "mounts left behind, not removing $TEST_TMP: $left"
		[ "$rc" -eq 0 ] && rc=1
	elif [ "${E2E_KEEP:-0}" = 1 ]; then
		say "keeping $TEST_TMP (E2E_KEEP=1)"
	else
		rm -rf --one-file-system "$TEST_TMP"
	fi
	if [ "$rc" -eq 0 ]; then
		say "PASS"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- ports ----------------------------------------------------------------------

# A random TCP port in 20000-60000 that nothing listens on and that this test
# has not handed out yet (recorded in a file: free_port runs in $(...)).
free_port() {
	local port i
	for ((i = 0; i < 200; i++)); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40001))
		! grep -qx "$port" "$TEST_TMP/ports.given" 2>/dev/null || continue
		if python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.close()' "$port" 2>/dev/null; then
			echo "$port" >>"$TEST_TMP/ports.given"
			echo "$port"
			return 0
		fi
	done
	fail "no free port found in 20000-60000"
}

# --- waiting --------------------------------------------------------------------

# now_ms: milliseconds of the wall clock (bash's $EPOCHREALTIME: no fork).
now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

# wait_for [-t SECONDS] CMD ARGS...: poll CMD until it succeeds, every
# 0.05 s, SECONDS * 20 + 1 tries (SECONDS: default 10, may be fractional);
# fail the test otherwise, naming what it waited for. The tries take longer
# than SECONDS when CMD takes time (tests are sized for that), but never
# more than 3 * SECONDS of wall-clock time: under load, when each check takes
# a second, a "10 s" wait must not stretch into minutes. CMD should not
# block: a client call through a mount runs under `timeout` (mount_timeout).
wait_for() {
	local timeout=10 tries i start end
	if [ "${1:-}" = -t ]; then
		timeout=$2
		shift 2
	fi
	tries=$(awk -v t="$timeout" 'BEGIN { printf "%d", t * 20 + 1 }')
	start=$(now_ms)
	end=$((start + $(awk -v t="$timeout" 'BEGIN { printf "%d", t * 3000 }')))
	for ((i = 0; i < tries; i++)); do
		if "$@"; then
			return 0
		fi
		(($(now_ms) < end)) || break
		sleep 0.05
	done
	fail "timed out after ${timeout}s ($((i + 1)) tries in $((($(now_ms) - start) / 1000)) s) waiting for: $*"
}

# A client call through a mount that a stuck daemon could hold forever runs
# under `timeout -k 5 $MOUNT_CALL_TIMEOUT`: mount_timeout CMD ARGS...
MOUNT_CALL_TIMEOUT=${MOUNT_CALL_TIMEOUT:-30}
mount_timeout() { timeout -k 5 "$MOUNT_CALL_TIMEOUT" "$@"; }

# --- nodes ----------------------------------------------------------------------

node_mount() { echo "$TEST_TMP/$1/m"; }
node_data() { echo "$TEST_TMP/$1/d"; }
node_log() { echo "$TEST_TMP/$1/log"; }
node_pid() { echo "${NODE_PID[$1]}"; }
node_addr() { echo "${NODE_ADDR[$1]}"; }

ctl() { "$CLUSTERFSCTL" "$@"; }

# node_spawn NAME ARGS...: start clusterfsd with exactly ARGS in the
# background (stderr appended to NAME's log); sets NODE_PID[NAME]. Does not wait.
node_spawn() {
	local name=$1
	shift
	mkdir -p "$TEST_TMP/$name"
	echo "=== $(date +%T.%N) clusterfsd $*" >>"$(node_log "$name")"
	local -a wrap=()
	if [ -n "${NODE_WRAP[$name]:-}" ]; then
		read -r -a wrap <<<"${NODE_WRAP[$name]}"
	fi
	"${wrap[@]}" "$CLUSTERFSD" "$@" 2>>"$(node_log "$name")" &
	NODE_PID[$name]=$!
	echo "$! node-$name" >>"$SANITIZER_DIR/pids"
}

# node_wait_ready NAME: wait until `clusterfsctl wait` succeeds; fail with
# the log if the daemon dies or the time is up.
node_wait_ready() {
	local name=$1 pid=${NODE_PID[$1]} m deadline
	m=$(node_mount "$name")
	deadline=$((SECONDS + NODE_START_TIMEOUT))
	while ((SECONDS < deadline)); do
		if mount_timeout "$CLUSTERFSCTL" --mount "$m" wait --timeout 1 2>/dev/null; then
			NODE_ID[$name]=$(mount_timeout cat "$m/.cluster/self" 2>/dev/null || true)
			NODE_FUSE[$name]=$(awk -v d="$(realpath -m "$m")" \
				'$5 == d { split($3, a, ":"); c = a[2] } END { print c }' /proc/self/mountinfo)
			return 0
		fi
		if ! pid_alive "$pid"; then
			local rc=0
			wait "$pid" || rc=$?
			say "--- log of node $name ---"
			cat "$(node_log "$name")" >&2
			fail "node $name (pid $pid) exited with status $rc before it was ready"
		fi
	done
	say "--- log of node $name ---"
	cat "$(node_log "$name")" >&2
	say "threads of node $name (pid $pid): $(pid_stuck_threads "$pid")"
	fail "node $name (pid $pid) was not ready after ${NODE_START_TIMEOUT}s"
}

# node_start NAME [EXTRA FLAGS...]: a new node with its own mount, data dir
# and port; waits until it is ready.
node_start() {
	local name=$1 port
	shift
	port=$(free_port)
	NODE_ADDR[$name]=127.0.0.1:$port
	node_spawn "$name" --mount "$(node_mount "$name")" --data "$(node_data "$name")" \
		--address "${NODE_ADDR[$name]}" --log-level debug "$@"
	node_wait_ready "$name"
}

# node_restart NAME: start again with only --data and --mount (DESIGN §2:
# identity and address are read back from the data dir).
node_restart() {
	local name=$1
	if pid_alive "${NODE_PID[$name]:-}"; then
		fail "node_restart $name: it is still running (pid ${NODE_PID[$name]})"
	fi
	node_spawn "$name" --mount "$(node_mount "$name")" --data "$(node_data "$name")"
	node_wait_ready "$name"
}

# wait_exit PID SECONDS: wait (bounded) for a child of this shell to exit;
# sets EXIT_STATUS to its exit status, or to "timeout". (Not to be called in
# a $(...) subshell: only this shell can collect the status of its child.)
EXIT_STATUS=""
wait_exit() {
	local pid=$1 secs=$2 i
	for ((i = 0; i < secs * 20; i++)); do
		pid_alive "$pid" || break
		sleep 0.05
	done
	if pid_alive "$pid"; then
		EXIT_STATUS=timeout
		return 0
	fi
	EXIT_STATUS=0
	wait "$pid" 2>/dev/null || EXIT_STATUS=$?
}

# wait_child PID SECONDS WHAT: wait_exit, and fail the test naming WHAT if
# PID still runs after SECONDS; else return its exit status (a bounded
# `wait PID`).
wait_child() {
	wait_exit "$1" "$2"
	[ "$EXIT_STATUS" != timeout ] || fail "$3 (pid $1) still runs after $2 s"
	return "$EXIT_STATUS"
}

# node_stop NAME [SIGNAL]: SIGTERM (or SIGNAL), bounded wait, exit status 0,
# and the mount gone from /proc/mounts.
node_stop() {
	local name=$1 sig=${2:-TERM} pid=${NODE_PID[$1]} rc
	pid_alive "$pid" || fail "node_stop $name: pid $pid is not running"
	kill -"$sig" "$pid"
	wait_exit "$pid" "$NODE_STOP_TIMEOUT"
	rc=$EXIT_STATUS
	[ "$rc" != timeout ] || fail "node $name (pid $pid) did not exit ${NODE_STOP_TIMEOUT}s after SIG$sig"
	[ "$rc" = 0 ] || fail "node $name exited with status $rc after SIG$sig, expected 0"
	if is_mounted "$(node_mount "$name")"; then
		fail "node $name exited but $(node_mount "$name") is still in /proc/mounts"
	fi
}

# node_kill9 NAME: SIGKILL; the mount stays behind, dead (ENOTCONN). A node
# still running 10 s later fails the test (at its end if KILL9_CONTINUE=1,
# after its FUSE connection is aborted so that it dies and the test goes on).
node_kill9() {
	local name=$1 pid=${NODE_PID[$1]} rc stuck
	kill -KILL "$pid"
	wait_exit "$pid" 10
	rc=$EXIT_STATUS
	if [ "$rc" = timeout ]; then
		stuck=$(pid_stuck_threads "$pid")
		fuse_abort "${NODE_FUSE[$name]:-}"
		wait_exit "$pid" 5
		stuck="node $name (pid $pid) still ran 10 s after SIGKILL (its port stays bound, its mount hangs) until its FUSE connection was aborted: $stuck"
		[ "${KILL9_CONTINUE:-0}" = 1 ] || fail "$stuck"
		say "CHECK FAILED (continuing): $stuck"
		CHECK_FAILURES+=("$stuck")
	fi
}

# --- assertions -----------------------------------------------------------------

# brief VALUE: VALUE, cut to its first 200 characters (and its length) if
# longer, so that a failure report stays readable.
brief() {
	if ((${#1} > 200)); then
		printf '%s... (%d characters)' "${1:0:200}" "${#1}"
	else
		printf '%s' "$1"
	fi
}

# show_diff EXPECTED ACTUAL: both lengths in bytes, the first byte where they
# differ, and 64 bytes of each around it (od -c: invisible differences show).
# No pipe is closed early: under pipefail that ended a test with SIGPIPE
# (status 141) before it said what differed (test_harness.sh).
show_diff() {
	local e=$TEST_TMP/show.expected a=$TEST_TMP/show.actual at from out
	printf '%s' "$1" >"$e"
	printf '%s' "$2" >"$a"
	out=$(cmp -- "$e" "$a" 2>&1) || true
	at=$(sed -n 's/.* byte \([0-9]*\).*/\1/p' <<<"$out")
	case $out in *EOF*) at=$((at + 1)) ;; esac # "EOF on F after byte N"
	at=${at:-1}
	from=$((at > 33 ? at - 33 : 0))
	printf 'expected %d bytes, got %d; first difference at byte %d\n' \
		"$(stat -c %s "$e")" "$(stat -c %s "$a")" "$at"
	printf 'expected, bytes %d-%d:\n' "$((from + 1))" "$((from + 64))"
	od -An -c -j "$from" -N 64 "$e"
	printf 'actual, bytes %d-%d:\n' "$((from + 1))" "$((from + 64))"
	od -An -c -j "$from" -N 64 "$a"
}

assert_eq() {
	local expected=$1 actual=$2 what=${3:-value}
	if [ "$expected" != "$actual" ]; then
		say "$what: expected [$(brief "$expected")], got [$(brief "$actual")]"
		show_diff "$expected" "$actual" >&2
		fail "$what: expected $(brief "$(printf %q "$expected")"), got $(brief "$(printf %q "$actual")")"
	fi
}

assert_ne() {
	local unexpected=$1 actual=$2 what=${3:-value}
	[ "$unexpected" != "$actual" ] || fail "$what: expected anything but [$unexpected], got it"
}

# assert_match REGEX ACTUAL [WHAT]: extended regex match.
assert_match() {
	local re=$1 actual=$2 what=${3:-value}
	[[ $actual =~ $re ]] || fail "$what: expected to match /$re/, got [$actual]"
}

# Read a whole file exactly (trailing newlines kept) into stdout.
read_exact() {
	local content
	content=$(
		cat -- "$1"
		printf x
	) || return 1
	printf '%s' "${content%x}"
}

# assert_file_content FILE EXPECTED: FILE holds exactly EXPECTED (use $'..\n').
assert_file_content() {
	local file=$1 expected=$2 actual
	[ -f "$file" ] || fail "$file: expected a regular file with [$expected], it does not exist"
	actual=$(
		cat -- "$file"
		printf x
	) || fail "cat $file failed"
	assert_eq "$expected" "${actual%x}" "content of $file"
}

assert_exists() {
	[ -e "$1" ] || [ -L "$1" ] || fail "$1 should exist and does not"
}

assert_not_exists() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		fail "$1 should not exist and does ($(ls -ld "$1" 2>&1))"
	fi
}

# probe OP ARGS...: one syscall through errno_probe.py; prints OK or the errno.
probe() { mount_timeout python3 "$PROBE" "$@"; }

# assert_fails_with ERRNO OP ARGS...: the errno_probe operation fails with ERRNO.
assert_fails_with() {
	local want=$1 got
	shift
	got=$(probe "$@") || fail "errno_probe $* could not run"
	[ "$got" = "$want" ] || fail "$*: expected $want, got $got"
}

# assert_ok OP ARGS...: the errno_probe operation succeeds.
assert_ok() {
	local got
	got=$(probe "$@") || fail "errno_probe $* could not run"
	[ "${got%% *}" = OK ] || fail "$*: expected success, got $got"
}

# assert_cmd_fails [-s STATUS] [-e REGEX] CMD ARGS...: CMD exits non-zero
# (exactly STATUS if given) and its stderr matches REGEX (if given). The
# captured stderr is left in $CMD_STDERR, stdout in $CMD_STDOUT.
CMD_STDERR=""
CMD_STDOUT=""
assert_cmd_fails() {
	local want_status="" re="" rc=0 errf outf
	while [ $# -gt 0 ]; do
		case $1 in
		-s) want_status=$2; shift 2 ;;
		-e) re=$2; shift 2 ;;
		*) break ;;
		esac
	done
	errf=$(mktemp "$TEST_TMP/stderr.XXXXXX")
	outf=$(mktemp "$TEST_TMP/stdout.XXXXXX")
	"$@" >"$outf" 2>"$errf" || rc=$?
	CMD_STDERR=$(cat "$errf")
	CMD_STDOUT=$(cat "$outf")
	rm -f "$errf" "$outf"
	[ "$rc" -ne 0 ] || fail "$*: expected failure, it succeeded (stdout [$CMD_STDOUT])"
	if [ -n "$want_status" ] && [ "$rc" -ne "$want_status" ]; then
		fail "$*: expected exit status $want_status, got $rc (stderr [$CMD_STDERR])"
	fi
	if [ -n "$re" ] && ! [[ $CMD_STDERR =~ $re ]]; then
		fail "$*: stderr should match /$re/, got [$CMD_STDERR]"
	fi
}

# assert_cmd_ok CMD ARGS...: CMD succeeds (stdout discarded); its stderr is
# shown if not.
assert_cmd_ok() {
	local rc=0 errf
	errf=$(mktemp "$TEST_TMP/stderr.XXXXXX")
	"$@" >/dev/null 2>"$errf" || rc=$?
	if [ "$rc" -ne 0 ]; then
		cat "$errf" >&2
		rm -f "$errf"
		fail "$*: exit status $rc, expected 0"
	fi
	rm -f "$errf"
}

# The generated revision of a file (DESIGN §3).
revision_of() { getfattr --absolute-names --only-values -n user.clusterfs.revision -- "$1"; }
writer_of() { getfattr --absolute-names --only-values -n user.clusterfs.writer -- "$1"; }

# check ASSERTION ARGS...: run one assertion (any command) in a subshell; if
# it fails, record it and go on, so that one product bug does not hide the
# checks after it. The test fails at exit if any check failed.
check() {
	local errf rc=0 why
	errf=$(mktemp "$TEST_TMP/check.XXXXXX")
	("$@") 2>"$errf" || rc=$?
	cat "$errf" >&2
	if [ "$rc" -ne 0 ]; then
		why=$(grep -m1 ': FAIL: ' "$errf" | sed 's/^[^:]*: FAIL: //')
		CHECK_FAILURES+=("${why:-$*}")
		say "CHECK FAILED (continuing): ${why:-$*}"
	fi
	rm -f "$errf"
}

# --- several nodes ----------------------------------------------------------------
#
# A cluster is named nodes as above; node_join starts one that joins through
# another. NODE_ID[NAME] is the node id the cluster gave it (read from
# .cluster/self once it is ready). Nodes may run in a network namespace
# (NODE_WRAP[NAME]="nsenter --net=/run/netns/NS": only the network namespace,
# so that the FUSE mount stays visible to the test).

# node_join NAME VIA [EXTRA FLAGS...]: a new node that joins the cluster of
# node VIA with --join VIA's address and --cluster-key VIA's key file.
node_join() {
	local name=$1 via=$2
	shift 2
	node_start "$name" --join "$(node_addr "$via")" --cluster-key "$(node_data "$via")/cluster.key" "$@"
}

# cluster_start N [EXTRA FLAGS...]: nodes n1..nN, n1 bootstraps, the others
# join through it; the flags are given to every node. Sets CLUSTER=(n1 ... nN).
declare -a CLUSTER=()
cluster_start() {
	local count=$1 i
	shift
	CLUSTER=()
	node_start n1 "$@"
	CLUSTER+=(n1)
	for ((i = 2; i <= count; i++)); do
		node_join "n$i" n1 "$@"
		CLUSTER+=("n$i")
	done
}

# node_is_running NAME
node_is_running() { pid_alive "${NODE_PID[$1]:-}"; }

# node_name_of ID: the name of the node with that id (empty if none).
node_name_of() {
	local name
	for name in "${!NODE_ID[@]}"; do
		if [ "${NODE_ID[$name]}" = "$1" ]; then
			echo "$name"
			return 0
		fi
	done
}

# leader_seen_by NAME: the id of the leader that node NAME knows (from its
# .cluster/status; 0 or empty when none).
leader_seen_by() {
	mount_timeout sed -n 's/^leader=//p' "$(node_mount "$1")/.cluster/status" 2>/dev/null || true
}

# status_field NAME KEY: one key=value of NAME's .cluster/status.
status_field() {
	mount_timeout sed -n "s/^$2=//p" "$(node_mount "$1")/.cluster/status" 2>/dev/null || true
}

# wait_leader [-t SECONDS] NAME...: wait until every named node knows the same
# leader, that leader is one of them, and it can commit (status exit 0); sets
# LEADER to its name and FOLLOWERS to the others.
LEADER=""
declare -a FOLLOWERS=()
_leader_agreed() {
	local name id="" seen
	for name in "$@"; do
		seen=$(leader_seen_by "$name")
		case $seen in "" | 0) return 1 ;; esac
		if [ -z "$id" ]; then
			id=$seen
		elif [ "$seen" != "$id" ]; then
			return 1
		fi
	done
	LEADER=$(node_name_of "$id")
	[ -n "$LEADER" ] || return 1
	for name in "$@"; do
		[ "$name" = "$LEADER" ] && mount_timeout "$CLUSTERFSCTL" --mount "$(node_mount "$name")" status >/dev/null 2>&1 && return 0
	done
	return 1
}
wait_leader() {
	local timeout=15 name
	if [ "${1:-}" = -t ]; then
		timeout=$2
		shift 2
	fi
	LEADER=""
	wait_for -t "$timeout" _leader_agreed "$@"
	FOLLOWERS=()
	for name in "$@"; do
		[ "$name" = "$LEADER" ] || FOLLOWERS+=("$name")
	done
}

# node_sync NAME: clusterfsctl sync (a linearizable read point) on NAME.
node_sync() { mount_timeout "$CLUSTERFSCTL" --mount "$(node_mount "$1")" sync; }

# members_json NAME: `clusterfsctl members --json` on NAME.
members_json() { mount_timeout "$CLUSTERFSCTL" --mount "$(node_mount "$1")" members --json; }

# members_summary NAME: "ID ADDRESS ROLE [leader]" lines sorted by id, from
# `members --json` on NAME (reachability left out: it is each node's view).
members_summary() {
	members_json "$1" | python3 -c '
import json, sys
for m in sorted(json.load(sys.stdin), key=lambda m: m["id"]):
    print(m["id"], m["address"], m["role"], "leader" if m["leader"] else "-")
'
}

# --- tree hashes ------------------------------------------------------------------

# tree_manifest MOUNT: one line per file, directory and symlink under MOUNT
# (not .cluster/), sorted by path: type, mode, uid, gid, size, link count,
# mtime (ns), sha256 of the content or the symlink target, user xattrs
# (name=sha256 of the value) and user.clusterfs.revision. Exits non-zero if
# the tree cannot be read. TREE_MTIME=0 leaves mtimes out.
tree_manifest() {
	timeout -k 5 $((2 * MOUNT_CALL_TIMEOUT)) python3 - "$1" "${TREE_MTIME:-1}" <<'EOF'
import hashlib, os, stat, sys

root, with_mtime = sys.argv[1], sys.argv[2] == "1"
out = []

def h(data):
    return hashlib.sha256(data).hexdigest()[:20]

def xattrs(path):
    res = []
    for name in sorted(os.listxattr(path, follow_symlinks=False)):
        res.append("%s=%s" % (name, h(os.getxattr(path, name, follow_symlinks=False))))
    try:
        rev = os.getxattr(path, "user.clusterfs.revision", follow_symlinks=False).decode()
    except OSError:
        rev = "-"
    res.append("rev=" + rev)
    return " ".join(res)

def visit(rel):
    path = os.path.join(root, rel) if rel else root
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        kind, body = "d", "-"
    elif stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            kind, body = "f", h(f.read())
    elif stat.S_ISLNK(st.st_mode):
        kind, body = "l", "->" + os.readlink(path)
    else:
        kind, body = "?", "-"
    size = st.st_size if kind != "d" else "-"
    fields = [rel or ".", kind, "%o" % stat.S_IMODE(st.st_mode), str(st.st_uid), str(st.st_gid),
              str(size), str(st.st_nlink)]
    if with_mtime:
        fields.append(str(st.st_mtime_ns))
    fields += [body, xattrs(path)]
    out.append(" ".join(fields))
    if kind == "d":
        for name in sorted(os.listdir(path)):
            if not rel and name == ".cluster":
                continue
            visit(os.path.join(rel, name))

try:
    visit("")
except OSError as e:
    print("tree_manifest: %s: %s" % (root, e), file=sys.stderr)
    sys.exit(1)
print("\n".join(out))
EOF
}

# tree_hash MOUNT: sha256 of tree_manifest MOUNT (fails if unreadable).
tree_hash() {
	local manifest
	manifest=$(tree_manifest "$1") || return 1
	printf '%s\n' "$manifest" | sha256sum | cut -d' ' -f1
}

# wait_same_tree [-t SECONDS] NAME...: sync every named node and compare
# their tree manifests until they are identical; bounded in time and tries.
# Sets TREE_HASH. On failure shows how the trees differ and fails the test.
# shellcheck disable=SC2034 # TREE_HASH is for the tests
TREE_HASH=""
wait_same_tree() {
	local timeout=20 name first try deadline same h
	if [ "${1:-}" = -t ]; then
		timeout=$2
		shift 2
	fi
	first=$1
	deadline=$((SECONDS + timeout))
	for ((try = 0; try < timeout * 5 + 1; try++)); do
		same=1
		for name in "$@"; do
			mount_timeout "$CLUSTERFSCTL" --mount "$(node_mount "$name")" sync >/dev/null 2>&1 || true
		done
		for name in "$@"; do
			if ! tree_manifest "$(node_mount "$name")" >"$TEST_TMP/tree.$name" 2>"$TEST_TMP/tree.$name.err"; then
				same=0
				continue
			fi
			cmp -s "$TEST_TMP/tree.$first" "$TEST_TMP/tree.$name" || same=0
		done
		if [ "$same" = 1 ]; then
			# shellcheck disable=SC2034 # for the tests
			TREE_HASH=$(sha256sum <"$TEST_TMP/tree.$first" | cut -d' ' -f1)
			return 0
		fi
		((SECONDS < deadline)) || break
		sleep 0.2
	done
	for name in "$@"; do
		h=$(sha256sum <"$TEST_TMP/tree.$name" 2>/dev/null | cut -c1-16) || true
		say "node $name (id ${NODE_ID[$name]:-?}): tree hash $h, $(wc -l <"$TEST_TMP/tree.$name") entries $(cat "$TEST_TMP/tree.$name.err")"
		if [ "$name" != "$first" ]; then
			say "diff of the manifests of $first and $name (path type mode uid gid size nlink mtime content xattrs):"
			diff "$TEST_TMP/tree.$first" "$TEST_TMP/tree.$name" | head -n 30 >&2 || true
		fi
	done
	fail "the trees of $* still differ after ${timeout}s"
}

# --- network namespaces --------------------------------------------------------------

# netns_add NAME: create a network namespace, deleted again at exit.
netns_add() {
	ip netns add "$1" || fail "ip netns add $1 failed"
	NETNS_CREATED+=("$1")
	ip -n "$1" link set lo up
}
