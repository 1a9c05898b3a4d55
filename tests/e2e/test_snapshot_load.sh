#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Taking snapshots does not stop the node (issue 11). Three nodes are filled
# with 1 MiB files at --snapshot-threshold 8, so every node takes a snapshot
# every few writes while its store grows past 100 MiB. No leader change may
# follow: the term is the same on every node before and after, and every
# write succeeds. (A snapshot used to copy the whole store on the event
# loop: 1-3 s without heartbeats, elections, EROFS and ETIMEDOUT.) The
# election timeout is generous (1 s, randomised up to 2 s) so that a loaded
# machine alone does not cause elections.
source "$(dirname "$0")/lib.sh"

FILES=120
MIB=$((1 << 20))
BLOB=$TEST_TMP/blob # one write(2) of 1 MiB: one entry
head -c "$MIB" /dev/urandom >"$BLOB"
FLAGS=(--snapshot-threshold 8 --snapshot-trailing 4 --election-timeout 1000)

terms() {
	local n out=""
	for n in "${CLUSTER[@]}"; do out+="$n:$(status_field "$n" term) "; done
	echo "${out% }"
}

cluster_start 3 "${FLAGS[@]}"
wait_leader "${CLUSTER[@]}"
mkdir "$(node_mount "$LEADER")/bulk"
wait_same_tree "${CLUSTER[@]}"
before=$(terms)
say "leader $LEADER; terms $before"
for ((i = 0; i < FILES; i++)); do
	n=${CLUSTER[i % 3]}
	dd if="$BLOB" of="$(node_mount "$n")/bulk/f$i" bs=1M status=none ||
		fail "write $i of 1 MiB through $n failed (terms now $(terms))"
done
wait_same_tree -t 60 "${CLUSTER[@]}"
after=$(terms)
say "  $FILES MiB written; store.db $(stat -c %s "$(node_data "$LEADER")/store.db") bytes; terms $after"
for n in "${CLUSTER[@]}"; do
	snaps=$(find "$(node_data "$n")/raft" -maxdepth 1 -name 'snapshot-*' ! -name '*.meta' | wc -l)
	((snaps > 0)) || fail "$n took no snapshot"
	grep -h 'event loop stalled' "$(node_log "$n")" | sed "s/^/  $n: /" >&2 || true
done
assert_eq "$before" "$after" "terms before and after the fill (a leader change happened)"
for n in "${CLUSTER[@]}"; do node_stop "$n"; done
