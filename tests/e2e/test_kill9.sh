#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# kill -9 always ends the daemon (DESIGN §8): on a 3-node cluster, readers
# and writers are busy on node n3's mount while n1 and n2 change the same
# names, so n3 is invalidating the kernel's caches of names and inodes its
# own clients are using. n3 is killed with SIGKILL, many times. Each time:
# the process is gone (every thread of it), its mount is dead (ENOTCONN) and
# can be detached, every client's system call in flight returns (an error,
# never a hang), a restart with only --data and --mount works, and n3
# catches up. At the end all three trees are identical.
#
# Before the guardian process existed, about one kill in ten left the
# notifier thread stuck in the kernel inside fuse_lowlevel_notify_inval_*,
# waiting for a lock held by a client that waited for the dead daemon: the
# device stayed open, and the mount and its clients hung.
source "$(dirname "$0")/lib.sh"

ROUNDS=${KILL9_ROUNDS:-15}
LOAD=$E2E_DIR/kill9_load.py

cluster_start 3
wait_leader n1 n2 n3
mkdir "$(node_mount n1)/d"
wait_same_tree n1 n2 n3

# load NAME ROLE K: a client of ROLE on NAME's mount; its progress file is
# $TEST_TMP/p.NAME.ROLE.K.
declare -a LOADERS=()
load() {
	python3 "$LOAD" "$2" "$(node_mount "$1")/d" "$TEST_TMP/p.$1.$2.$3" "$TEST_TMP/stop" "$RANDOM" &
	EXTRA_PIDS+=("$!")
	LOADERS+=("$1.$2.$3")
}
load n1 remote 1
load n2 remote 2
load n3 reader 1
load n3 reader 2
load n3 writer 1

# progress ID: the number of system calls client ID has finished.
progress() {
	local f=$TEST_TMP/p.$1 n
	n=$(cut -d' ' -f1 "$f" 2>/dev/null) || true
	echo "${n:-0}"
}

# wait_clients_progress SECONDS: every client of n3 finishes at least two
# more calls than it had when this was called (so the one in flight at the
# kill returned). Fails naming the clients that did not.
wait_clients_progress() {
	local secs=$1 id stuck i
	declare -A start=()
	for id in "${LOADERS[@]}"; do
		start[$id]=$(progress "$id")
	done
	for ((i = 0; i < secs * 10; i++)); do
		stuck=""
		for id in "${LOADERS[@]}"; do
			[ "$(progress "$id")" -ge $((start[$id] + 2)) ] || stuck="$stuck $id"
		done
		[ -n "$stuck" ] || return 0
		sleep 0.1
	done
	fail "clients that made no progress ${secs}s after the kill (hung on the dead mount?):$stuck"
}

M3=$(node_mount n3)
max_exit_ms=0
for ((round = 1; round <= ROUNDS; round++)); do
	sleep "0.$((RANDOM % 9 + 1))"
	pid=$(node_pid n3)
	conn=${NODE_FUSE[n3]}
	t0=$(date +%s%N)
	kill -KILL "$pid"
	wait_exit "$pid" 10
	if [ "$EXIT_STATUS" = timeout ]; then
		stuck=$(pid_stuck_threads "$pid")
		fuse_abort "$conn"
		wait_exit "$pid" 5
		fail "round $round: n3 (pid $pid) still ran 10 s after SIGKILL: $stuck"
	fi
	ms=$((($(date +%s%N) - t0) / 1000000))
	((ms > max_exit_ms)) && max_exit_ms=$ms
	# Dead, not hanging: statfs (never answered from a cache) gets
	# ENOTCONN, or the mount is gone.
	if is_mounted "$M3"; then
		out=$(timeout 5 stat -f -c %t "$M3" 2>&1) && fail "round $round: the mount still answers after the kill: $out"
		case $out in
		*"not connected"* | *"aborted"*) ;;
		*) fail "round $round: stat of the dead mount: '$out' (expected ENOTCONN)" ;;
		esac
	fi
	wait_clients_progress 5
	# A restart with only --data and --mount clears the dead mount itself.
	node_restart n3
	echo "round $round" >"$(node_mount n1)/d/marker"
	node_sync n3 || fail "round $round: clusterfsctl sync on n3 after its restart failed"
	assert_file_content "$M3/d/marker" "round $round"$'\n' "n3's copy of the marker after restart $round"
done
aborts=$(grep -c "its guardian aborted FUSE connection" "$(node_log n3)" || true)
say "$ROUNDS kills: the slowest exit took ${max_exit_ms} ms; the guardian aborted the connection ${aborts} times"
[ "$aborts" -eq "$ROUNDS" ] || fail "the guardian reported $aborts aborts for $ROUNDS kills"

touch "$TEST_TMP/stop"
for pid in "${EXTRA_PIDS[@]}"; do
	wait_exit "$pid" 20
	[ "$EXIT_STATUS" != timeout ] || fail "client pid $pid did not stop within 20 s"
done
for id in "${LOADERS[@]}"; do
	say "client $id: $(progress "$id") calls"
done
wait_same_tree -t 30 n1 n2 n3
