#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A follower killed (SIGKILL) at each step of a snapshot install starts
# again and catches up (issue 11). The install writes the image to
# store.db.install off the loop, swaps it in for store.db, and only then has
# raft write a marker of it. CLUSTERFS_CRASH_AT=<step> makes the follower
# kill itself right after a step: "written" (new file checked, old store in
# place), "swapped" (new store, raft's old snapshot and log), "put" (new
# store and raft's marker, fsm->restore not run). Each round: the follower
# is stopped, 32 MiB are written so that it needs a snapshot, it restarts
# with the crash point and dies there, then restarts normally: it must
# become ready with the leader's tree and applied index, without leftover
# install files, and the others keep their term.
source "$(dirname "$0")/lib.sh"

MIB=$((1 << 20))
BLOB=$TEST_TMP/blob
FLAGS=(--snapshot-threshold 16 --snapshot-trailing 8 --election-timeout 1000)

terms() {
	local n out=""
	for n in "$@"; do out+="$n:$(status_field "$n" term) "; done
	echo "${out% }"
}

cluster_start 3 "${FLAGS[@]}"
ALL=("${CLUSTER[@]}")
wait_leader "${ALL[@]}"
L=$LEADER F=${FOLLOWERS[0]} O=${FOLLOWERS[1]}
ML=$(node_mount "$L") MF=$(node_mount "$F")
FLOG=$(node_log "$F")
mkdir "$ML/big"
wait_same_tree "${ALL[@]}"
before=$(terms "$L" "$O")
# After the crash: not mounted (it crashed before serving) or a dead mount.
mf_is_gone() { ! is_mounted "$MF" || ! stat -c %i "$MF" >/dev/null 2>&1; }

for step in written swapped put; do
	node_stop "$F"
	for ((i = 0; i < 32; i++)); do
		head -c "$MIB" /dev/urandom >"$BLOB"
		dd if="$BLOB" of="$ML/big/$step$i" bs=1M status=none || fail "write $step$i failed"
	done
	echo "$step" >"$ML/last"
	wait_same_tree "$L" "$O"
	say "round $step: $F restarts and kills itself after install step '$step'"
	NODE_WRAP[$F]="env CLUSTERFS_CRASH_AT=$step"
	node_spawn "$F" --mount "$MF" --data "$(node_data "$F")"
	NODE_WRAP[$F]=""
	wait_exit "${NODE_PID[$F]}" 120
	[ "$EXIT_STATUS" != timeout ] || fail "round $step: $F did not crash at '$step' (no install?)"
	grep -q "crashing after step '$step'" "$FLOG" || fail "round $step: $F exited ($EXIT_STATUS) but not at step '$step'"
	wait_for -t 10 mf_is_gone
	say "round $step: $F crashed there; data dir: $(ls "$(node_data "$F")" | tr '\n' ' ')"
	node_restart "$F"
	wait_same_tree -t 90 "${ALL[@]}"
	assert_eq "$step" "$(cat "$MF/last")" "round $step: the last file, read on $F"
	assert_eq "$(status_field "$L" applied_index)" "$(status_field "$F" applied_index)" "round $step: applied index of $F vs the leader's"
	[ ! -e "$(node_data "$F")/store.db.install" ] || fail "round $step: store.db.install left in $F's data dir"
done
assert_eq "$before" "$(terms "$L" "$O")" "terms of $L and $O"

say "every node restarts"
h=$TREE_HASH
for n in "${ALL[@]}"; do node_stop "$n"; done
for n in "${ALL[@]}"; do node_spawn "$n" --mount "$(node_mount "$n")" --data "$(node_data "$n")"; done
for n in "${ALL[@]}"; do node_wait_ready "$n"; done
wait_same_tree "${ALL[@]}"
assert_eq "$h" "$TREE_HASH" "tree hash after restarting every node"
for n in "${ALL[@]}"; do node_stop "$n"; done
