#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A follower catches up from a large snapshot (issue 11). Three nodes at
# --snapshot-threshold 16; a follower is stopped while 40 MiB of 1 MiB files
# and a few hundred small changes are written, so the others' logs are
# compacted far past it and their stores hold tens of MiB. Restarted, it
# can only catch up by installing a snapshot: its tree then equals the
# others', it holds a snapshot past where it stopped, and the cluster kept
# its leader throughout (the term never moved). A restart of every node
# after that keeps the tree (markers and a store at or past them).
source "$(dirname "$0")/lib.sh"

BIG=40
MIB=$((1 << 20))
BLOB=$TEST_TMP/blob # one write(2) of 1 MiB: one entry
head -c "$MIB" /dev/urandom >"$BLOB"
FLAGS=(--snapshot-threshold 16 --snapshot-trailing 8 --election-timeout 1000)

terms() {
	local n out=""
	for n in "$@"; do out+="$n:$(status_field "$n" term) "; done
	echo "${out% }"
}
last_snapshot() {
	find "$(node_data "$1")/raft" -maxdepth 1 -name 'snapshot-*' ! -name '*.meta' -printf '%f\n' |
		awk -F- '{ print $3 }' | sort -n | tail -n 1
}

cluster_start 3 "${FLAGS[@]}"
ALL=("${CLUSTER[@]}")
wait_leader "${ALL[@]}"
L=$LEADER F=${FOLLOWERS[0]} O=${FOLLOWERS[1]}
ML=$(node_mount "$L") MO=$(node_mount "$O")
mkdir "$ML/big" "$ML/small"
echo before >"$ML/small/before"
wait_same_tree "${ALL[@]}"
F_LAST=$(status_field "$F" last_index)
node_stop "$F"
before=$(terms "$L" "$O")
say "leader $L; $F stopped at index $F_LAST; terms $before"

for ((i = 0; i < BIG; i++)); do
	dd if="$BLOB" of="$ML/big/f$i" bs=1M status=none || fail "1 MiB write $i failed"
	for ((j = 0; j < 5; j++)); do
		k=$((i * 5 + j))
		case $((k % 5)) in
		0) echo "v$k" >"$MO/small/s$((k % 37))" ;;
		1) mkdir -p "$ML/small/d$((k % 11))" ;;
		2) setfattr -n user.k -v "v$k" "$ML/small/before" ;;
		3) rm -f "$MO/small/s$(((k + 7) % 37))" ;;
		4) echo "line $k" >>"$ML/small/log" ;;
		esac || fail "small change $k failed"
	done
done
rm "$ML/big/f0" "$ML/big/f1"
wait_same_tree "$L" "$O"
say "  store.db on $L: $(stat -c %s "$(node_data "$L")/store.db") bytes; last snapshot $(last_snapshot "$L"); terms $(terms "$L" "$O")"

say "$F restarts and catches up"
node_restart "$F"
wait_same_tree -t 90 "${ALL[@]}"
snap=$(last_snapshot "$F")
[ -n "$snap" ] && ((snap > F_LAST)) || fail "$F holds no snapshot past index $F_LAST (last: ${snap:-none})"
grep -q 'sending a snapshot\|installing a snapshot' "$(node_log "$L")" "$(node_log "$F")" ||
	say "  (no snapshot message logged)"
after=$(terms "$L" "$O")
say "  $F caught up (snapshot at $snap); tree ${TREE_HASH:0:16}; terms $after"
assert_eq "$before" "$after" "terms of $L and $O (a leader change happened)"
assert_eq "$(status_field "$L" applied_index)" "$(status_field "$F" applied_index)" "applied index of $F vs the leader's"

echo "from $F" >"$(node_mount "$F")/small/from-f" || fail "write on $F failed"
wait_same_tree "${ALL[@]}"
h=$TREE_HASH
say "every node restarts"
for n in "${ALL[@]}"; do node_stop "$n"; done
for n in "${ALL[@]}"; do node_spawn "$n" --mount "$(node_mount "$n")" --data "$(node_data "$n")"; done
for n in "${ALL[@]}"; do node_wait_ready "$n"; done
wait_same_tree "${ALL[@]}"
assert_eq "$h" "$TREE_HASH" "tree hash after restarting every node"
for n in "${ALL[@]}"; do node_stop "$n"; done
