#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Snapshots and catch-up (DESIGN §8; issue 3). Three nodes with
# --snapshot-threshold 16 --snapshot-trailing 8. A follower is stopped, about
# 200 writes of every kind follow (overwrites, creates, removals, renames,
# directories, modes, xattrs, symlinks, hard links); the logs are compacted
# past what the stopped node has, so when it restarts it can only catch up
# through install-snapshot: its tree then equals the others', and it holds a
# snapshot it did not have. A restart of it after that keeps the tree. A
# brand-new node joining after all this catches up the same way. Closing a
# log segment at each snapshot released raft_uv's AIO context through a
# thread, not on the event loop (clusterfs_log_aio_released_total > 0:
# replication/aio_release.h).
source "$(dirname "$0")/lib.sh"

SNAP=(--snapshot-threshold 16 --snapshot-trailing 8)

# snapshot_indexes NAME: the indexes of the snapshots in NAME's DATA/raft,
# one a line (files snapshot-TERM-INDEX-TIMESTAMP).
snapshot_indexes() {
	find "$(node_data "$1")/raft" -maxdepth 1 -name 'snapshot-*' ! -name '*.meta' -printf '%f\n' |
		awk -F- '{ print $3 }' | sort -n
}

# first_log_index NAME: the first index of the oldest closed segment in
# NAME's DATA/raft (FIRST-LAST files), or empty when there is none.
first_log_index() {
	find "$(node_data "$1")/raft" -maxdepth 1 -regextype posix-extended \
		-regex '.*/[0-9]{16}-[0-9]{16}' -printf '%f\n' | awk -F- '{ print $1 + 0 }' | sort -n | head -n 1
}

cluster_start 3 "${SNAP[@]}"
ALL=("${CLUSTER[@]}")
wait_leader "${ALL[@]}"
L=$LEADER F=${FOLLOWERS[0]} O=${FOLLOWERS[1]}
ML=$(node_mount "$L") MO=$(node_mount "$O")
say "leader $L; follower $F will be stopped; $O stays"

say "a tree the stopped node will see change"
mkdir -p "$ML/s/keep" "$ML/s/gone-dir"
for i in $(seq 1 10); do echo "old $i" >"$ML/s/f$i"; done
echo doomed >"$ML/s/doomed"
echo "to be renamed" >"$ML/s/old-name"
ln -s f1 "$ML/s/link"
wait_same_tree "${ALL[@]}"
node_sync "$F"
F_LAST=$(status_field "$F" last_index)
F_SNAPS=$(snapshot_indexes "$F" | tr '\n' ' ')
say "$F stops at last_index $F_LAST (its snapshots: ${F_SNAPS:-none})"
node_stop "$F"

# metric NAME KEY: one value from NAME's metrics (0 if absent).
metric() { awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }' "$(node_mount "$1")/.cluster/metrics"; }
declare -A RELEASED0 TAKEN0
for n in "$L" "$O"; do
	RELEASED0[$n]=$(metric "$n" clusterfs_log_aio_released_total)
	TAKEN0[$n]=$(metric "$n" 'clusterfs_snapshots_total{kind="taken"}')
done

say "about 200 writes of every kind on $L and $O while $F is down"
for ((i = 1; i <= 200; i++)); do
	if ((i % 2)); then m=$ML; else m=$MO; fi
	case $((i % 20)) in
	0) mkdir "$m/s/d$i" ;;
	1) echo "appended $i" >>"$m/s/log" ;;
	2) chmod $((600 + i % 2 * 40)) "$m/s/f$((i % 10 + 1))" ;;
	3) setfattr -n "user.k$((i % 4))" -v "v$i" "$m/s/f$((i % 10 + 1))" ;;
	4) ln -sfn "f$((i % 10 + 1))" "$m/s/link" ;;
	5) echo "new $i" >"$m/s/n$i" && ln "$m/s/n$i" "$m/s/h$i" ;;
	6) rm -f "$m/s/n$((i - 20))" ;;
	*) echo "value $i" >"$m/s/f$((i % 10 + 1))" ;;
	esac || fail "write $i failed"
done
rm "$ML/s/doomed"
rmdir "$MO/s/gone-dir"
mv "$ML/s/old-name" "$MO/s/keep/new-name" 2>/dev/null || mv "$MO/s/old-name" "$MO/s/keep/new-name"
wait_same_tree "$L" "$O"

say "the logs are compacted past what $F has"
for n in "$L" "$O"; do
	snaps=$(snapshot_indexes "$n" | tr '\n' ' ')
	first=$(first_log_index "$n")
	say "  $n: snapshots at [${snaps% }], oldest log entry kept: ${first:-none in closed segments}, last_index $(status_field "$n" last_index)"
	[ -n "$snaps" ] || fail "$n has no snapshot in $(node_data "$n")/raft after 200+ writes with --snapshot-threshold 16"
	# raft_uv's start-up probe releases one context too: count from
	# before the writes, during which snapshots closed segments.
	released=$(($(metric "$n" clusterfs_log_aio_released_total) - RELEASED0[$n]))
	taken=$(($(metric "$n" 'clusterfs_snapshots_total{kind="taken"}') - TAKEN0[$n]))
	say "  $n: $taken snapshots taken, $released AIO contexts of closed log segments released off the loop"
	((taken > 0)) || fail "$n took no snapshot during 200 writes with --snapshot-threshold 16"
	((released > 0)) ||
		fail "$n took $taken snapshots but released no AIO context off the event loop (clusterfs_log_aio_released_total)"
	if [ -n "$first" ]; then
		((first > F_LAST + 1)) ||
			fail "$n still has log entry $((F_LAST + 1)) (first kept: $first): the catch-up would not need a snapshot"
	else
		last_snap=$(snapshot_indexes "$n" | tail -n 1)
		((last_snap - 8 > F_LAST + 1)) ||
			fail "$n: last snapshot $last_snap, trailing 8: entry $((F_LAST + 1)) may still be in the log"
	fi
done

say "$F restarts (only --data and --mount) and catches up through a snapshot"
node_restart "$F"
wait_same_tree "${ALL[@]}"
say "  identical trees: ${TREE_HASH:0:16}"
F_SNAP_NOW=$(snapshot_indexes "$F" | tail -n 1)
if [ -z "$F_SNAP_NOW" ] || ((F_SNAP_NOW <= F_LAST)); then
	fail "$F has no snapshot past its old last index $F_LAST (snapshots: $(snapshot_indexes "$F" | tr '\n' ' '))"
fi
say "  $F now holds a snapshot at index $F_SNAP_NOW (it stopped at $F_LAST)"
MF=$(node_mount "$F")
assert_not_exists "$MF/s/doomed"
assert_not_exists "$MF/s/gone-dir"
assert_not_exists "$MF/s/old-name"
assert_file_content "$MF/s/keep/new-name" $'to be renamed\n'
assert_eq 10 "$(grep -c . "$MF/s/log")" "lines of s/log on $F"
assert_eq "$(status_field "$L" applied_index)" "$(status_field "$F" applied_index)" "applied index of $F vs the leader's"
echo "written on $F" >"$MF/s/from-f" || fail "write on the caught-up node failed"
wait_same_tree "${ALL[@]}"

say "$F restarts again: the snapshot and the entries after it give the same tree"
node_stop "$F"
node_restart "$F"
wait_same_tree "${ALL[@]}"

say "more writes, then a brand-new node joins and catches up"
for ((i = 1; i <= 60; i++)); do
	echo "late $i" >"$(node_mount "${ALL[i % 3]}")/s/late$((i % 15))" || fail "late write $i failed"
done
wait_same_tree "${ALL[@]}"
for n in "${ALL[@]}"; do
	first=$(first_log_index "$n")
	[ -z "$first" ] || ((first > 1)) || fail "$n still has log entry 1: a new node would not need a snapshot"
done
node_join n4 "$L" "${SNAP[@]}"
wait_same_tree n1 n2 n3 n4
[ -n "$(snapshot_indexes n4)" ] || fail "the new node has no snapshot in its data dir"
say "  the new node (id ${NODE_ID[n4]}, role $(status_field n4 role)) holds snapshots at $(snapshot_indexes n4 | tr '\n' ' ')"
echo "from the new node" >"$(node_mount n4)/s/from-n4" || fail "write on the new node failed"
wait_same_tree n1 n2 n3 n4
for n in n4 "${ALL[@]}"; do
	node_stop "$n"
done
