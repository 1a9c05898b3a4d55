#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The cluster's health, visible (DESIGN §2, §6; issue 13 part 3). Three
# nodes with small snapshots:
# 1. `members` and `members --json` on the leader and on a follower: every
#    member reachable, a recent last contact, no lag, its applied index,
#    term, store size and version; `status --cluster` exits 0.
# 1b. The write stage metrics (clusterfs_write_stage_seconds): the leader
#    counts every stage of its writes and of those a follower forwarded;
#    the follower counts its forwarded writes and proposes nothing itself.
# 2. A SIGSTOPped follower, while the leader writes: the leader and the
#    other follower show it unreachable and lagging by at least what was
#    written; `status --cluster` exits 3 and names it; the leader logs it
#    unreachable, and its metrics show the lag. SIGCONT: it catches up (by a
#    snapshot: the leader's log was compacted meanwhile), lag 0, reachable,
#    "back" in the leader's log; the snapshots are logged and counted.
# 3. A SIGSTOPped leader: the new leader logs the election it won and
#    counts it; the old one, continued, logs that it lost the leadership.
source "$(dirname "$0")/lib.sh"

WRITES=60
cluster_start 3 --snapshot-threshold 16 --snapshot-trailing 4
ALL=("${CLUSTER[@]}")
wait_leader "${ALL[@]}"
L=$LEADER F1=${FOLLOWERS[0]} F2=${FOLLOWERS[1]}
ML=$(node_mount "$L")
say "leader $L (id ${NODE_ID[$L]}), followers $F1 and $F2"
echo hello >"$ML/first" || fail "cannot write on the leader"
VERSION=$(ctl --version | awk '{print $2}')

# member NAME ID FIELD: FIELD of member ID in `members --json` on NAME
# (JSON: true/false/null print as such).
member() {
	members_json "$1" | python3 -c '
import json, sys
m = [x for x in json.load(sys.stdin) if x["id"] == int(sys.argv[1])]
print(json.dumps(m[0][sys.argv[2]]) if m else "missing")' "$2" "$3"
}

# all_healthy NAME: on NAME every member is reachable, heard from within a
# second, 0 entries behind, and reported its applied index, term, store
# size and version.
all_healthy() {
	members_json "$1" | python3 -c '
import json, sys
m = json.load(sys.stdin)
ok = len(m) == 3 and all(
    x["reachable"] is True and x["last_contact_ms"] is not None and x["last_contact_ms"] < 1000
    and x["lag"] == 0 and x["match_index"] is not None and x["applied_index"] is not None
    and x["term"] is not None and x["store_bytes"] is not None and x["store_bytes"] > 0
    and x["version"] == sys.argv[1] for x in m)
sys.exit(0 if ok else 1)' "$VERSION"
}

say "1. every member healthy, seen from the leader and from a follower"
node_sync "$F1"
wait_for -t 10 all_healthy "$L"
wait_for -t 10 all_healthy "$F1"
members_text=$(ctl --mount "$ML" members) || fail "members failed"
say "members on the leader:"
printf '%s\n' "$members_text" >&2
assert_eq 4 "$(grep -c . <<<"$members_text")" "lines of members (a header and 3 members)"
assert_match "REACHABLE.*LAST CONTACT.*LAG.*STORE" "$(head -n 1 <<<"$members_text")" "members header"
assert_eq 3 "$(grep -c ' yes ' <<<"$members_text")" "reachable members in [$members_text]"
f=$(cat "$ML/.cluster/members")
assert_eq 3 "$(grep -c ' leader=' <<<"$f")" "leader= fields in .cluster/members [$f]"
assert_eq "${NODE_ID[$L]}" "$(awk '/ leader=yes / {print $1}' <<<"$f")" "leader in .cluster/members [$f]"
ctl --mount "$(node_mount "$F1")" status --cluster >"$TEST_TMP/sc.out" 2>&1 ||
	fail "status --cluster on $F1 failed on a healthy cluster: $(cat "$TEST_TMP/sc.out")"
assert_eq 4 "$(grep -c . "$TEST_TMP/sc.out")" "lines of status --cluster [$(cat "$TEST_TMP/sc.out")]"
ctl --mount "$ML" --json status --cluster | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["healthy"] is True and len(d["members"]) == 3, d
assert all(m["healthy"] is True for m in d["members"]), d' ||
	fail "status --cluster --json on a healthy cluster: $(ctl --mount "$ML" --json status --cluster)"

say "1b. where writes spend their time: clusterfs_write_stage_seconds on the leader and a follower"
# stage NAME STAGE: "SUM COUNT" of that stage in NAME's metrics.
stage() {
	local m
	m=$(cat "$(node_mount "$1")/.cluster/metrics")
	printf '%s %s\n' "$(sed -n "s/^clusterfs_write_stage_seconds_sum{stage=\"$2\"} //p" <<<"$m")" \
		"$(sed -n "s/^clusterfs_write_stage_seconds_count{stage=\"$2\"} //p" <<<"$m")"
}
before=$(stage "$L" apply)
fwd_before=$(stage "$F1" forward)
read -r _ fp0 <<<"$(stage "$F1" propose)" 
for i in $(seq 1 20); do echo "s$i" >"$ML/stages" || fail "write $i on the leader failed"; done
for i in $(seq 1 10); do echo "f$i" >"$(node_mount "$F1")/stages" || fail "write $i on $F1 failed"; done
# fsync is a barrier, not an entry: the front end's two stages count the
# same requests (fuse_reply counted barriers too, once).
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd)' "$ML/stages" ||
	fail "fsync on the leader failed"
for n in "$L" "$F1"; do
	read -r _ cin <<<"$(stage "$n" fuse_in)"
	read -r _ cout <<<"$(stage "$n" fuse_reply)"
	assert_eq "$cin" "$cout" "fuse_in and fuse_reply counts on $n"
done
for s in propose disk follower to_apply apply answer fuse_in fuse_reply; do
	read -r sum count <<<"$(stage "$L" "$s")"
	if ! [[ "$count" =~ ^[0-9]+$ ]] || [ "$count" -lt 20 ]; then
		fail "the leader counts '$count' writes in stage $s, want >= 20"
	fi
	python3 -c 'import sys; s = float(sys.argv[1]); sys.exit(0 if 0 < s < 60 else 1)' "$sum" ||
		fail "the leader's stage $s sums to '$sum' s over $count writes"
done
# The leader's own writes and the 10 it applied for $F1 are counted there.
read -r _ c0 <<<"$before"
read -r _ c1 <<<"$(stage "$L" apply)"
[ $((c1 - c0)) -ge 30 ] || fail "the leader counted $((c1 - c0)) applies for 30 writes"
read -r _ f0 <<<"$fwd_before"
read -r fsum f1 <<<"$(stage "$F1" forward)"
assert_eq 10 $((f1 - f0)) "writes $F1 forwarded, by its stage metrics"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$fsum" || fail "$F1's forward stage sums to '$fsum'"
read -r _ fp <<<"$(stage "$F1" propose)"
assert_eq 0 $((fp - fp0)) "writes $F1 proposed to raft itself (it is a follower)"
# log writes: every entry stored once, no more disk writes than entries
entries=$(sed -n 's/^clusterfs_log_entries_stored_total //p' "$ML/.cluster/metrics")
turns=$(sed -n 's/^clusterfs_log_write_turns_total //p' "$ML/.cluster/metrics")
last=$(status_field "$L" last_index)
if ! { [ -n "$entries" ] && [ -n "$turns" ] && [ "$turns" -ge 1 ] && [ "$turns" -le "$entries" ] &&
	[ "$entries" -ge 30 ] && [ "$entries" -le "$last" ]; }; then
	fail "log write metrics on the leader: $entries entries in $turns writes, last index $last"
fi

say "2. SIGSTOP of follower $F2 while the leader writes $WRITES files"
id2=${NODE_ID[$F2]}
kill -STOP "$(node_pid "$F2")"
mkdir "$ML/w"
for i in $(seq 1 "$WRITES"); do
	echo "v$i" >"$ML/w/f$i" || fail "write $i on the leader failed with one follower stopped"
done
# stopped_seen NAME: NAME shows F2 unreachable and at least WRITES behind.
stopped_seen() {
	[ "$(member "$1" "$id2" reachable)" = false ] && [ "$(member "$1" "$id2" lag)" -ge "$WRITES" ] 2>/dev/null
}
wait_for -t 10 stopped_seen "$L"
wait_for -t 10 stopped_seen "$F1"
say "   the leader: $F2 lag $(member "$L" "$id2" lag), last contact $(member "$L" "$id2" last_contact_ms) ms"
say "   follower $F1: $F2 lag $(member "$F1" "$id2" lag), last contact $(member "$F1" "$id2" last_contact_ms) ms"
assert_cmd_fails -s 3 -e "not known to be reachable: $id2\$" ctl --mount "$ML" status --cluster
metrics=$(cat "$ML/.cluster/metrics")
lag=$(sed -n "s/^clusterfs_member_lag_entries{id=\"$id2\"} //p" <<<"$metrics")
[ -n "$lag" ] && [ "$lag" -ge "$WRITES" ] || fail "the leader's metrics do not show $F2's lag (got '$lag')"
assert_eq 0 "$(sed -n "s/^clusterfs_member_reachable{id=\"$id2\"} //p" <<<"$metrics")" "clusterfs_member_reachable of $F2"
wait_for -t 10 grep -q "member $id2 at .* unreachable: nothing heard for" "$(node_log "$L")"

say "   SIGCONT: $F2 catches up, the leader says it is back"
kill -CONT "$(node_pid "$F2")"
back() { [ "$(member "$L" "$id2" reachable)" = true ] && [ "$(member "$L" "$id2" lag)" = 0 ]; }
wait_for -t 20 back
wait_for -t 10 grep -q "member $id2 at .* is back" "$(node_log "$L")"
wait_for -t 10 all_healthy "$F2"
assert_file_content "$(node_mount "$F2")/w/f$WRITES" "v$WRITES"$'\n'
grep -q "snapshot taken at raft index" "$(node_log "$L")" || fail "the leader logged no snapshot taken"
taken=$(sed -n 's/^clusterfs_snapshots_total{kind="taken"} //p' "$ML/.cluster/metrics")
[ "${taken:-0}" -ge 1 ] || fail "the leader's metrics count no snapshot taken (got '$taken')"
if grep -q "snapshot installed" "$(node_log "$F2")"; then
	inst=$(sed -n 's/^clusterfs_snapshots_total{kind="installed"} //p' "$(node_mount "$F2")/.cluster/metrics")
	[ "${inst:-0}" -ge 1 ] || fail "$F2 logged a snapshot install but counts none"
	secs=$(sed -n 's/^clusterfs_snapshot_last_seconds{kind="installed"} //p' "$(node_mount "$F2")/.cluster/metrics")
	python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$secs" ||
		fail "$F2's last install took '$secs' s by its metrics"
	say "   $F2 caught up by a snapshot install ($secs s)"
else
	say "   $F2 caught up from the log (the leader kept the entries)"
fi
grep -q '^clusterfs_loop_stall_longest_seconds ' "$ML/.cluster/metrics" || fail "no loop stall figure in the metrics"

say "3. SIGSTOP of the leader $L: the new leader logs its election"
kill -STOP "$(node_pid "$L")"
wait_leader -t 20 "$F1" "$F2"
NEW=$LEADER
wait_for -t 10 grep -q "election won: leader for term" "$(node_log "$NEW")"
won=$(sed -n 's/^clusterfs_elections_won_total //p' "$(node_mount "$NEW")/.cluster/metrics")
[ "${won:-0}" -ge 1 ] || fail "the new leader $NEW counts no election won (got '$won')"
kill -CONT "$(node_pid "$L")"
wait_for -t 10 grep -q "no longer the leader" "$(node_log "$L")"
wait_leader -t 20 "${ALL[@]}"
wait_for -t 10 all_healthy "$LEADER"
echo after >"$ML/after" || fail "the old leader cannot write once it is a follower"
