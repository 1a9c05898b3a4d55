#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# --busy-poll (docs/operations.md, "Latency on virtual machines"): three
# nodes that poll up to 200 us after each event before they sleep. Writes
# on a follower and on the leader reach every node, a remote change is a
# real inotify event, the log says the mode is on -- and an idle node
# sleeps: over 3 s without requests its daemon uses far less CPU than a
# loop that never stopped polling would (3 s). A value out of range is
# refused at start with a clear line, and nothing is mounted.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_inotify.sh"

SPIN=200
cluster_start 3 --busy-poll "$SPIN"
wait_leader n1 n2 n3
F=${FOLLOWERS[0]} O=${FOLLOWERS[1]}
for n in n1 n2 n3; do
	grep -q "busy polling: up to $SPIN us after each event" "$(node_log "$n")" ||
		fail "$n does not log that it busy-polls: $(tail -n 5 "$(node_log "$n")")"
done

iw_start IW "$TEST_TMP/iw" -r "$(node_mount "$O")"
echo "from the follower" >"$(node_mount "$F")/f"
echo "from the leader" >"$(node_mount "$LEADER")/g"
iw_wait "$TEST_TMP/iw" "$(node_mount "$O")/f" '(^|,)CLOSE_WRITE(,|$)'
iw_wait "$TEST_TMP/iw" "$(node_mount "$O")/g" '(^|,)CLOSE_WRITE(,|$)'
iw_stop "$IW"
for n in n1 n2 n3; do
	node_sync "$n"
	assert_file_content "$(node_mount "$n")/f" $'from the follower\n'
	assert_file_content "$(node_mount "$n")/g" $'from the leader\n'
done
for i in $(seq 1 200); do cat "$(node_mount "$F")/f" >/dev/null; done

# An idle node sleeps between its events (the leader's heartbeats).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
for n in "$LEADER" "$F"; do
	pid=$(node_pid "$n")
	before=$(cpu_ticks "$pid")
	sleep 3
	used=$(($(cpu_ticks "$pid") - before))
	say "$n used $used ticks of CPU ($hz a second) in 3 s idle"
	((used < hz)) || fail "$n used $used ticks of CPU in 3 s idle (a second is $hz): it polls while idle"
done

# Refused values: one line, exit 2, nothing mounted.
mkdir -p "$TEST_TMP/bad/m" "$TEST_TMP/bad/d"
rc=0
"$CLUSTERFSD" --mount "$TEST_TMP/bad/m" --data "$TEST_TMP/bad/d" --busy-poll 5000 \
	2>"$TEST_TMP/bad/err" || rc=$?
[ "$rc" = 2 ] || fail "--busy-poll 5000 exited with $rc, expected 2: $(cat "$TEST_TMP/bad/err")"
grep -q -- '--busy-poll needs a number of microseconds (0 to 1000)' "$TEST_TMP/bad/err" ||
	fail "no clear refusal: $(cat "$TEST_TMP/bad/err")"
! is_mounted "$TEST_TMP/bad/m" || fail "a refused start mounted $TEST_TMP/bad/m"
say "PASS"
