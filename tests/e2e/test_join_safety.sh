#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A failed join never costs the cluster its quorum (DESIGN §2, §7):
# 1. a joiner whose mount point is a file fails before it contacts the
#    cluster: the cluster gains no member and stays writable;
# 2. a joiner is a standby until it has caught up and mounted: stopped or
#    killed while it catches up, the one-voter cluster still writes; once
#    it runs again and has mounted, it becomes a voter;
# 3. a join that could not complete (no cluster at the address) leaves
#    nothing that blocks a retry with the right address;
# 4. a data directory of another cluster, given with --join and this
#    cluster's key, is refused at once with a line that says what to do;
# 5. removals: of an unreachable voter and of a running one, which is told
#    and stops; the one removed while it was down learns it when it comes
#    back (the leader tells any non-member that sends it raft traffic).
source "$(dirname "$0")/lib.sh"

node_start n1
M1=$(node_mount n1)
KEY=$(node_data n1)/cluster.key

# members_roles NAME: "ID:ROLE" of every member, sorted, on one line.
members_roles() {
	members_json "$1" | python3 -c '
import json, sys
print(" ".join("%d:%s" % (m["id"], m["role"]) for m in sorted(json.load(sys.stdin), key=lambda m: m["id"])))'
}

say "1. a mount point that is a file: refused before any contact"
touch "$TEST_TMP/notadir"
node_spawn bad --mount "$TEST_TMP/notadir" --data "$(node_data bad)" \
	--address "127.0.0.1:$(free_port)" --join "$(node_addr n1)" --cluster-key "$KEY"
wait_exit "$(node_pid bad)" 10
[ "$EXIT_STATUS" != timeout ] || fail "a joiner with a file as mount point still runs after 10 s"
[ "$EXIT_STATUS" != 0 ] || fail "a joiner with a file as mount point exited 0"
grep -q "is not a directory" "$(node_log bad)" || fail "the joiner did not say its mount point is not a directory"
assert_eq "1:voter" "$(members_roles n1)" "members after the refused join"
echo after-bad-join >"$M1/f" || fail "n1 cannot write after a refused join"

say "2. a joiner is a standby until it has caught up and mounted"
# Enough content that catching up takes a while.
mkdir "$M1/big"
for i in $(seq 1 24); do
	head -c 1000000 /dev/urandom >"$M1/big/f$i" || fail "cannot fill n1 ($i)"
done
node_spawn n2 --mount "$(node_mount n2)" --data "$(node_data n2)" \
	--address "127.0.0.1:$(free_port)" --join "$(node_addr n1)" --cluster-key "$KEY"
NODE_ADDR[n2]=unused
stopped=0
for ((i = 0; i < 1000; i++)); do
	if grep -q "is a standby; it asks to be a voter" "$(node_log n2)" 2>/dev/null; then
		kill -STOP "$(node_pid n2)"
		stopped=1
		break
	fi
	pid_alive "$(node_pid n2)" || fail "n2 exited while joining"
	sleep 0.01
done
[ "$stopped" = 1 ] || fail "n2 never said it was a standby (10 s)"
roles=$(members_roles n1)
say "   members while n2 is stopped: $roles"
case $roles in
"1:voter 2:standby") ;;
"1:voter 2:voter")
	grep -q "asking to become a voter" "$(node_log n2)" ||
		fail "n2 became a voter before it asked (members: $roles)"
	fail "n2 caught up and mounted before it could be stopped: make the store larger" ;;
*) fail "members while n2 catches up: $roles (expected 1:voter 2:standby)" ;;
esac
echo while-joiner-stopped >"$M1/f" || fail "n1 cannot write while the joiner is stopped"
kill -KILL "$(node_pid n2)"
kill -CONT "$(node_pid n2)" 2>/dev/null || true
wait_exit "$(node_pid n2)" 10
echo after-joiner-killed >"$M1/f" || fail "n1 cannot write after the joiner was killed mid-catch-up"
node_restart n2
wait_for -t 20 eval '[ "$(members_roles n1)" = "1:voter 2:voter" ]'
grep -q "asking to become a voter" "$(node_log n2)" || fail "n2 did not ask to become a voter"
wait_same_tree n1 n2

say "3. a join that could not complete does not block the retry"
dead=127.0.0.1:$(free_port)
node_spawn n3 --mount "$(node_mount n3)" --data "$(node_data n3)" \
	--address "127.0.0.1:$(free_port)" --join "$dead" --cluster-key "$KEY"
sleep 2
stop_pid "$(node_pid n3)"
pid_alive "$(node_pid n3)" && fail "n3 did not stop"
node_start n3 --join "$(node_addr n1)" --cluster-key "$KEY"
wait_same_tree n1 n2 n3

say "4. a data directory of another cluster is refused with --join"
node_start other
node_stop other
node_spawn other --mount "$(node_mount other)" --data "$(node_data other)" \
	--join "$(node_addr n1)" --cluster-key "$KEY"
wait_exit "$(node_pid other)" 10
[ "$EXIT_STATUS" != timeout ] || fail "a foreign data dir with --join still runs after 10 s"
[ "$EXIT_STATUS" != 0 ] || fail "a foreign data dir with --join exited 0"
grep -q "of another cluster" "$(node_log other)" || fail "no clear line about the other cluster's data dir"
roles=$(members_roles n1)
case $roles in
"1:voter 2:voter 3:voter") ;;
*) fail "members after the refused foreign data dir: $roles" ;;
esac

say "5. removals: an unreachable voter, then a running one, which is told and stops"
id2=${NODE_ID[n2]} id3=${NODE_ID[n3]}
kill -KILL "$(node_pid n2)"
wait_exit "$(node_pid n2)" 10
ctl --mount "$M1" remove "$id2" || fail "clusterfsctl remove of the unreachable node $id2 failed (two voters of three are up)"
assert_eq "1:voter $id3:voter" "$(members_roles n1)" "members after removing the unreachable node"
echo after-remove-2 >"$M1/f" || fail "n1 cannot write after removing an unreachable voter"
ctl --mount "$M1" remove "$id3" || fail "clusterfsctl remove of the running node $id3 failed"
wait_exit "$(node_pid n3)" 10
[ "$EXIT_STATUS" != timeout ] || fail "the removed node n3 still runs 10 s after its removal"
[ "$EXIT_STATUS" = 1 ] || fail "the removed node n3 exited with status $EXIT_STATUS, expected 1"
grep -q "was removed from its cluster" "$(node_log n3)" || fail "n3 did not say that it was removed"
is_mounted "$(node_mount n3)" && fail "the removed node n3 left its mount behind"
assert_eq "1:voter" "$(members_roles n1)" "members after removing n3"
echo after-remove-3 >"$M1/f" || fail "n1 cannot write after removing n3"
node_spawn n3 --mount "$(node_mount n3)" --data "$(node_data n3)"
wait_exit "$(node_pid n3)" 10
[ "$EXIT_STATUS" = 1 ] || fail "a removed node's restart: exit status $EXIT_STATUS, expected 1"
[ "$(grep -c "was removed from its cluster" "$(node_log n3)")" -ge 2 ] ||
	fail "a removed node's restart does not say that it was removed"
say "   n2, removed while it was down, learns it on contact and stops"
node_spawn n2 --mount "$(node_mount n2)" --data "$(node_data n2)"
wait_exit "$(node_pid n2)" 20
[ "$EXIT_STATUS" != timeout ] || fail "n2, removed while down, still runs 20 s after its restart"
[ "$EXIT_STATUS" = 1 ] || fail "n2, removed while down: exit status $EXIT_STATUS, expected 1"
grep -q "was removed from its cluster" "$(node_log n2)" || fail "n2 did not say that it was removed"
grep -q "node $id2 at .* is not a member (it was removed): telling it" "$(node_log n1)" ||
	fail "the leader did not log telling n2"
is_mounted "$(node_mount n2)" && fail "n2 left its mount behind"
node_spawn n2 --mount "$(node_mount n2)" --data "$(node_data n2)"
wait_exit "$(node_pid n2)" 10
[ "$EXIT_STATUS" = 1 ] || fail "n2's second restart: exit status $EXIT_STATUS, expected 1 (it knows it was removed)"
assert_eq "1:voter" "$(members_roles n1)" "members at the end"
echo after-n2-told >"$M1/f" || fail "n1 cannot write after telling n2"
