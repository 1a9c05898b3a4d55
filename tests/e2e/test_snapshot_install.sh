#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A follower installs a large snapshot without stopping its event loop
# (issue 11). A follower is stopped while 48 MiB of 1 MiB files are written
# at --snapshot-threshold 16, so that it can only catch up by installing a
# snapshot of tens of MiB. While it does, a reader on its mount reads
# .cluster/status (answered by the node's event loop) in a loop. Asserted,
# structurally rather than by timing: the follower installed by swapping in
# a store file written off the loop; its loop never stalled in
# fsm->restore (the old install copied the whole image there: over a
# second at this size, logged by loop_watch); every read on it got an
# answer; the cluster kept its term; the trees agree, also after a restart
# of the follower (the installed store and raft's marker are consistent).
source "$(dirname "$0")/lib.sh"

BIG=48
MIB=$((1 << 20))
BLOB=$TEST_TMP/blob # one write(2) of 1 MiB: one entry
FLAGS=(--snapshot-threshold 16 --snapshot-trailing 8 --election-timeout 1000)
STOP_READER=$TEST_TMP/stop-reader
READS=$TEST_TMP/reads

terms() {
	local n out=""
	for n in "$@"; do out+="$n:$(status_field "$n" term) "; done
	echo "${out% }"
}
# Read M's status until told to stop (bounded): one line per read.
reader() {
	local m=$1 i
	for ((i = 0; i < 30000; i++)); do
		[ -e "$STOP_READER" ] && return 0
		if timeout -k 5 30 cat "$m/.cluster/status" >/dev/null 2>&1; then echo ok; else echo err; fi
		sleep 0.02
	done
}

cluster_start 3 "${FLAGS[@]}"
ALL=("${CLUSTER[@]}")
wait_leader "${ALL[@]}"
L=$LEADER F=${FOLLOWERS[0]} O=${FOLLOWERS[1]}
ML=$(node_mount "$L") MF=$(node_mount "$F")
mkdir "$ML/big"
echo before >"$ML/before"
wait_same_tree "${ALL[@]}"
node_stop "$F"
before=$(terms "$L" "$O")
for ((i = 0; i < BIG; i++)); do
	head -c "$MIB" /dev/urandom >"$BLOB"
	dd if="$BLOB" of="$ML/big/f$i" bs=1M status=none || fail "1 MiB write $i failed"
done
wait_same_tree "$L" "$O"
say "$F was stopped; leader $L's store.db: $(stat -c %s "$(node_data "$L")/store.db") bytes; terms $before"

node_spawn "$F" --mount "$MF" --data "$(node_data "$F")"
wait_for -t 30 is_mounted "$MF"
reader "$MF" >"$READS" &
READER=$!
node_wait_ready "$F"
wait_same_tree -t 90 "${ALL[@]}"
touch "$STOP_READER"
wait_child "$READER" 60 "the status reader on $F" || true
FLOG=$(node_log "$F")
grep 'event loop stalled' "$FLOG" | sed "s/^/  $F: /" >&2 || true
say "  reads on $F during the catch-up: $(grep -c '^ok$' "$READS") answered, $(grep -c '^err$' "$READS" || true) failed"

grep -q 'snapshot installed: the store file was swapped in' "$FLOG" ||
	fail "$F did not install the snapshot by swapping in a store file"
# A stall whose cause is fsm->restore ("stalled N ms: raft snapshot:
# fsm->restore took ..."), not one where it was merely the longest label of
# unlabelled work (seen at start-up, under load, loading the node's own
# snapshot marker).
if grep -q 'event loop stalled [0-9]* ms: [^(]*fsm->restore took' "$FLOG"; then
	fail "$F's event loop stalled restoring the snapshot on the loop: $(grep 'stalled [0-9]* ms: [^(]*fsm->restore took' "$FLOG" | head -n 1)"
fi
assert_eq "0" "$(grep -c '^err$' "$READS" || true)" "status reads on $F that failed"
(($(grep -c '^ok$' "$READS") > 0)) || fail "no status read on $F was answered"
assert_eq "$before" "$(terms "$L" "$O")" "terms of $L and $O (a leader change happened)"
assert_eq "$(status_field "$L" applied_index)" "$(status_field "$F" applied_index)" "applied index of $F vs the leader's"
[ ! -e "$(node_data "$F")/store.db.install" ] || fail "store.db.install left in $F's data dir"

say "$F restarts on the installed store"
node_stop "$F"
node_restart "$F"
echo after >"$MF/after" || fail "write on $F after its restart failed"
wait_same_tree "${ALL[@]}"
assert_eq "before" "$(cat "$MF/before")" "content written before the install, read on $F"
for n in "${ALL[@]}"; do node_stop "$n"; done
