#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Reads keep working without quorum, also after a restart (DESIGN §3): a
# node restarted while the other two of its cluster are down mounts its
# local store within a few seconds (it waits one second for a leader),
# `cat` answers from it, a mutation gets EROFS and changes nothing,
# .cluster/status says quorum=no and phase=read-only; once one peer is back
# the node reaches a leader, says phase=member, and writes work. A brand-new
# node that cannot reach the cluster it joins still does not mount.
# What systemd is told follows (STATUS=read-only: no quorum, then member;
# joining for the new node), through a NOTIFY_SOCKET of the test's own.
source "$(dirname "$0")/lib.sh"

# notify_listen NAME: a NOTIFY_SOCKET for NAME; its messages in NOTIFY_LOG[NAME].
declare -A NOTIFY_SOCK NOTIFY_LOG
notify_listen() {
	NOTIFY_SOCK[$1]=$TEST_TMP/$1.notify
	NOTIFY_LOG[$1]=$TEST_TMP/$1.notify.log
	python3 "$E2E_DIR/sd_notify_log.py" "${NOTIFY_SOCK[$1]}" "${NOTIFY_LOG[$1]}" &
	EXTRA_PIDS+=("$!")
	wait_for -t 10 test -s "${NOTIFY_LOG[$1]}"
}

cluster_start 3
wait_leader n1 n2 n3
M1=$(node_mount n1)
mkdir "$M1/gates" 2>/dev/null || true
echo true >"$M1/gates/feature.y"
echo v1 >"$M1/f"
wait_same_tree n1 n2 n3

say "stop all three; restart n1 alone"
node_stop n2
node_stop n3
node_stop n1
notify_listen n1
t0=$EPOCHREALTIME
NOTIFY_SOCKET=${NOTIFY_SOCK[n1]} node_spawn n1 --mount "$M1" --data "$(node_data n1)"
# Mounted and serving: .cluster/status readable (bounded wait).
served() { [ "$(status_field n1 phase)" = read-only ]; }
wait_for -t 10 served
say "n1 served its store read-only $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s after its start"

assert_file_content "$M1/gates/feature.y" $'true\n' "a gate on a node without quorum"
assert_file_content "$M1/f" $'v1\n' "a file on a node without quorum"
assert_eq no "$(status_field n1 quorum)" "quorum in .cluster/status"
assert_fails_with EROFS write "$M1/f" wronly,trunc changed
assert_fails_with EROFS mkdir "$M1/newdir"
assert_file_content "$M1/f" $'v1\n' "the file after a refused write"
assert_not_exists "$M1/newdir"
if ctl --mount "$M1" wait --timeout 1 2>/dev/null; then
	fail "clusterfsctl wait succeeded on a node without quorum"
fi
grep -q "read-only: no leader reached" "$(node_log n1)" ||
	fail "n1's log does not say that it serves read-only"
wait_for -t 5 grep -q '^READY=1|STATUS=read-only: no quorum$' "${NOTIFY_LOG[n1]}"

say "n2 comes back: n1 becomes writable"
node_restart n2
node_wait_ready n1
wait_for -t 10 eval '[ "$(status_field n1 phase)" = member ]'
echo v2 >"$M1/f" || fail "a write on n1 failed once n2 was back"
# The line comes from a 100 ms poll, so it may trail the first write.
wait_for -t 5 grep -q "reached the cluster's leader: writable" "$(node_log n1)"
wait_for -t 5 grep -q '^STATUS=member$' "${NOTIFY_LOG[n1]}"
node_restart n3
wait_same_tree n1 n2 n3
assert_file_content "$(node_mount n3)/f" $'v2\n' "n3's copy after all came back"

say "a brand-new node whose cluster is unreachable does not mount"
node_stop n2
node_stop n3
notify_listen n4
NOTIFY_SOCKET=${NOTIFY_SOCK[n4]} node_spawn n4 --mount "$(node_mount n4)" --data "$(node_data n4)" \
	--address "127.0.0.1:$(free_port)" --join "$(node_addr n2)" \
	--cluster-key "$(node_data n1)/cluster.key"
sleep 3
pid_alive "$(node_pid n4)" || fail "n4 exited although its join may still succeed"
grep -q '^STATUS=joining$' "${NOTIFY_LOG[n4]}" || fail "n4 did not tell systemd it is joining: $(cat "${NOTIFY_LOG[n4]}")"
grep -q 'READY=1' "${NOTIFY_LOG[n4]}" && fail "n4 told systemd READY=1 before it was a member"
if is_mounted "$(node_mount n4)"; then
	fail "n4 mounted before it became a member"
fi
stop_pid "$(node_pid n4)"
