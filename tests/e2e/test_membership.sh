#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Membership (DESIGN §7; issue 3). Five nodes with the default --max-voters
# 3: three voters and two standbys. `clusterfsctl remove` of a voter promotes
# a standby (three voters again); remove of a standby; a removed node whose
# data dir is wiped joins again and gets a new id; remove of the leader
# itself works (leadership moves first) and promotes the standby. Each
# removed node is told and stops by itself (exit 1, mount gone). The
# cluster keeps writing throughout and every member ends with the same tree.
# shellcheck disable=SC2016 # eval'ed conditions are quoted on purpose
source "$(dirname "$0")/lib.sh"

cluster_start 5
declare -a MEMBERS=("${CLUSTER[@]}")
wait_leader "${MEMBERS[@]}"

# role_of NAME: NAME's role in `members --json` as seen by the leader.
role_of() {
	members_json "$LEADER" | python3 -c '
import json, sys
r = [m["role"] for m in json.load(sys.stdin) if m["id"] == int(sys.argv[1])]
print(r[0] if r else "absent")' "${NODE_ID[$1]}"
}

# members_ok VOTERS STANDBYS NAME...: on every named node (after a sync),
# `members --json` lists exactly the named nodes, by id and address, with
# VOTERS voters and STANDBYS standbys, and one leader, a voter.
members_ok() {
	local voters=$1 standbys=$2 n ids="" addrs=""
	shift 2
	for n in "$@"; do
		ids+="${NODE_ID[$n]} "
		addrs+="${NODE_ADDR[$n]} "
	done
	for n in "$@"; do
		ctl --mount "$(node_mount "$n")" sync >/dev/null 2>&1 || return 1
		members_json "$n" | python3 -c '
import json, sys
m = json.load(sys.stdin)
ids = sorted(int(x) for x in sys.argv[1].split())
addrs = sorted(sys.argv[2].split())
voters, standbys = int(sys.argv[3]), int(sys.argv[4])
roles = [x["role"] for x in m]
leaders = [x for x in m if x["leader"] is True]
ok = (sorted(x["id"] for x in m) == ids and sorted(x["address"] for x in m) == addrs
      and roles.count("voter") == voters and roles.count("standby") == standbys
      and len(leaders) == 1 and leaders[0]["role"] == "voter")
if not ok:
    print("members on %s: %s" % (sys.argv[5], json.dumps(m)), file=sys.stderr)
sys.exit(0 if ok else 1)' "$ids" "$addrs" "$voters" "$standbys" "$n" 2>>"$TEST_TMP/members.err" || return 1
	done
}

# expect_members VOTERS STANDBYS NAME...: members_ok, waiting a bounded time
# (a promotion follows a removal); shows the last mismatch on failure.
expect_members() {
	local i end=$((SECONDS + 45)) # 60 tries, 15 s when members_ok is quick
	for ((i = 0; i < 60 && SECONDS < end; i++)); do
		: >"$TEST_TMP/members.err"
		members_ok "$@" && return 0
		sleep 0.25
	done
	tail -n 5 "$TEST_TMP/members.err" >&2
	fail "members: expected $1 voters, $2 standbys, exactly the nodes ${*:3}"
}

# removed_stops NAME: the leader told the removed node NAME, which stops by
# itself: exit status 1, its mount gone, a line saying why.
removed_stops() {
	wait_exit "$(node_pid "$1")" 15
	[ "$EXIT_STATUS" != timeout ] || fail "the removed node $1 still runs 15 s after its removal"
	[ "$EXIT_STATUS" = 1 ] || fail "the removed node $1 exited with status $EXIT_STATUS, expected 1"
	grep -q "was removed from its cluster" "$(node_log "$1")" || fail "$1 did not say it was removed"
	if is_mounted "$(node_mount "$1")"; then
		fail "the removed node $1 left its mount behind"
	fi
	say "  the removed node $1 stopped by itself: $(grep -m1 "was removed from its cluster" "$(node_log "$1")")"
}

# without NAME: MEMBERS without NAME.
without() {
	local n
	local -a keep=()
	for n in "${MEMBERS[@]}"; do
		[ "$n" = "$1" ] || keep+=("$n")
	done
	MEMBERS=("${keep[@]}")
}

# write_everywhere TAG: one write on every member, all visible everywhere.
write_everywhere() {
	local n
	for n in "${MEMBERS[@]}"; do
		echo "$1 from $n" >"$(node_mount "$n")/$1.$n" || fail "write $1 on $n failed"
	done
	wait_same_tree "${MEMBERS[@]}"
}

say "5 nodes, max-voters 3: 3 voters and 2 standbys"
expect_members 3 2 "${MEMBERS[@]}"
declare -a VOTERS=() STANDBYS=()
for n in "${MEMBERS[@]}"; do
	r=$(role_of "$n")
	assert_eq "$r" "$(status_field "$n" role)" "role of $n in its .cluster/status"
	case $r in voter) VOTERS+=("$n") ;; standby) STANDBYS+=("$n") ;; *) fail "role of $n: $r" ;; esac
	assert_eq member "$(status_field "$n" phase)" "phase of $n"
done
say "voters ${VOTERS[*]}, standbys ${STANDBYS[*]}, leader $LEADER"
mkdir "$(node_mount "${STANDBYS[0]}")/m"
write_everywhere m/start

say "remove of a voter (not the leader), asked through a standby: a standby is promoted"
V=""
for n in "${VOTERS[@]}"; do
	[ "$n" != "$LEADER" ] && V=$n && break
done
V_ID=${NODE_ID[$V]}
out=$(ctl --mount "$(node_mount "${STANDBYS[0]}")" remove "$V_ID") || fail "clusterfsctl remove $V_ID (voter $V) failed: $out"
say "  $out"
without "$V"
expect_members 3 1 "${MEMBERS[@]}"
promoted=""
for n in "${STANDBYS[@]}"; do
	[ "$(role_of "$n")" = voter ] && promoted=$n
done
[ -n "$promoted" ] || fail "no standby was promoted after voter $V was removed"
say "  standby $promoted (id ${NODE_ID[$promoted]}) promoted to voter"
wait_for -t 10 eval '[ "$(status_field "$promoted" role)" = voter ]'
write_everywhere m/after-voter-removal
removed_stops "$V"

say "remove of a standby"
S=""
for n in "${STANDBYS[@]}"; do
	[ "$n" != "$promoted" ] && S=$n
done
out=$(ctl --mount "$(node_mount "$LEADER")" remove "${NODE_ID[$S]}") || fail "clusterfsctl remove ${NODE_ID[$S]} (standby $S) failed: $out"
without "$S"
expect_members 3 0 "${MEMBERS[@]}"
write_everywhere m/after-standby-removal
removed_stops "$S"

say "removing a node that is not a member fails"
assert_cmd_fails -s 1 ctl --mount "$(node_mount "$LEADER")" remove 9999
expect_members 3 0 "${MEMBERS[@]}"

say "the removed voter, its data dir wiped, joins again at the same address with a new id (as a standby)"
rm -rf --one-file-system "$(node_data "$V")"
is_mounted "$(node_mount "$V")" && fail "$V's mount is still there"
node_spawn "$V" --mount "$(node_mount "$V")" --data "$(node_data "$V")" --address "$(node_addr "$V")" \
	--join "$(node_addr "$LEADER")" --cluster-key "$(node_data "$LEADER")/cluster.key" --log-level debug
node_wait_ready "$V"
assert_ne "$V_ID" "${NODE_ID[$V]}" "id of the re-joined node"
for n in "${MEMBERS[@]}"; do
	assert_ne "${NODE_ID[$n]}" "${NODE_ID[$V]}" "id of the re-joined node vs $n's"
done
say "  $V was node $V_ID, is now node ${NODE_ID[$V]}"
MEMBERS+=("$V")
expect_members 3 1 "${MEMBERS[@]}"
assert_eq standby "$(role_of "$V")" "role of the re-joined node"
wait_same_tree "${MEMBERS[@]}"
assert_file_content "$(node_mount "$V")/m/after-standby-removal.$LEADER" "m/after-standby-removal from $LEADER"$'\n'
write_everywhere m/after-rejoin

say "remove of the leader itself: leadership moves first, the standby is promoted"
OLD=$LEADER
OLD_ID=${NODE_ID[$OLD]}
out=$(ctl --mount "$(node_mount "$OLD")" remove "$OLD_ID") || fail "clusterfsctl remove $OLD_ID (the leader $OLD) failed: $out"
say "  $out"
without "$OLD"
wait_leader "${MEMBERS[@]}"
assert_ne "$OLD" "$LEADER" "leader after the leader removed itself"
expect_members 3 0 "${MEMBERS[@]}"
assert_eq voter "$(role_of "$V")" "role of $V after the leader left"
say "  new leader $LEADER; members: $(members_summary "$LEADER" | tr '\n' ';')"
write_everywhere m/after-leader-removal
removed_stops "$OLD"
for n in "${MEMBERS[@]}"; do
	node_stop "$n"
done
