#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A damaged data directory (issue 12, part 4; DESIGN §2 "a corrupt data dir:
# one clear line on stderr and a non-zero exit, nothing half-mounted").
# Three nodes; on the follower n3 (stopped), one kind of file at a time is
# truncated or overwritten with garbage: the sqlite store, a closed raft log
# segment, raft's metadata, a raft snapshot. Each time the start must fail
# within a bounded time with exit status 1 (no crash, no hang), nothing
# mounted, and one line naming the damaged file (or raft's directory) and
# saying to re-seed. Then the procedure of docs/operations.md ("A damaged
# data directory") is followed: `clusterfsctl remove` of the node's id on a
# healthy member, the data directory moved away, a join with a join token;
# the node catches up and every node ends with the same tree, with every
# write acknowledged before and during the outage.
source "$(dirname "$0")/lib.sh"

# Small snapshots and log retention, so that n3's data directory has
# closed segments and a snapshot to damage.
FLAGS=(--snapshot-threshold 32 --snapshot-trailing 16)
START_LIMIT=${CORRUPT_START_LIMIT:-20} # seconds a failing start may take

cluster_start 3 "${FLAGS[@]}"
wait_leader n1 n2 n3
[ "$LEADER" = n3 ] && fail "n3 leads: this test damages a follower (n1 bootstraps and leads)"

declare -A ACKED=()
write_acked() {
	printf '%s' "$3" >"$(node_mount "$1")/$2" || fail "write of $2 on $1"
	ACKED[$2]=$3
}
acked_everywhere() {
	local name f
	for name in "$@"; do
		for f in "${!ACKED[@]}"; do
			assert_file_content "$(node_mount "$name")/$f" "${ACKED[$f]}"
		done
	done
}
# writes ROUND: enough entries for closed segments and a snapshot.
writes() {
	local i
	for ((i = 0; i < 40; i++)); do
		write_acked n1 "r$1-f$((i % 8))" "round $1 value $i"
	done
	mkdir -p "$(node_mount n1)/dir$1" || fail "mkdir on n1"
	# 64 KiB of random text: a shell variable holds no NUL, and $(...)
	# would drop a trailing newline of raw random bytes (1 in 256).
	write_acked n1 "dir$1/big" "$(head -c 49152 /dev/urandom | base64 -w 0)"
}

# damage KIND DIR: damage one file of the data directory DIR; prints what.
damage() {
	local kind=$1 d=$2 f size
	case $kind in
	store-truncated)
		f=$d/store.db
		size=$(stat -c %s "$f")
		truncate -s $((size / 2)) "$f"
		;;
	store-garbage)
		# Pages past the schema: only a check of every page finds them.
		f=$d/store.db
		size=$(stat -c %s "$f")
		dd if=/dev/urandom of="$f" bs=4096 seek=$((size / 4096 - 3)) count=2 \
			conv=notrunc status=none
		;;
	segment-truncated | segment-garbage)
		f=$(find "$d/raft" -maxdepth 1 -regextype egrep -regex '.*/[0-9]{16}-[0-9]{16}' | sort | tail -n 1)
		[ -n "$f" ] || fail "no closed segment in $d/raft: $(ls "$d/raft")"
		size=$(stat -c %s "$f")
		if [ "$kind" = segment-truncated ]; then
			truncate -s $((size / 2)) "$f"
		else
			dd if=/dev/urandom of="$f" bs=1 seek=$((size / 2)) count=64 conv=notrunc status=none
		fi
		;;
	metadata)
		f=$(find "$d/raft" -maxdepth 1 -name 'metadata*' | sort | head -n 1)
		dd if=/dev/urandom of="$f" bs=32 count=1 conv=notrunc status=none
		;;
	snapshot)
		f=$(find "$d/raft" -maxdepth 1 -name 'snapshot-*' ! -name '*.meta' | sort | tail -n 1)
		[ -n "$f" ] || fail "no snapshot in $d/raft: $(ls "$d/raft")"
		dd if=/dev/urandom of="$f" bs=1 seek=4 count=16 conv=notrunc status=none
		;;
	*) fail "damage: unknown kind $kind" ;;
	esac
	echo "$f"
}

# start_fails NAME FILE: a start with --data and --mount only exits 1
# within START_LIMIT seconds, mounts nothing, and says in one line which
# file (or raft's directory, for raft's own files) is damaged and to
# re-seed. Sets FAIL_LINE.
FAIL_LINE=""
start_fails() {
	local name=$1 file=$2 pid rc lines
	local log
	log=$(node_log "$name")
	: >"$log"
	node_spawn "$name" --mount "$(node_mount "$name")" --data "$(node_data "$name")"
	pid=${NODE_PID[$name]}
	wait_exit "$pid" "$START_LIMIT"
	rc=$EXIT_STATUS
	if [ "$rc" = timeout ]; then
		stop_pid "$pid"
		fail "a start on a damaged data directory ($file) still ran after ${START_LIMIT}s"
	fi
	[ "$rc" = 1 ] || fail "a start on a damaged data directory ($file) exited with $rc, expected 1: $(tail -n 5 "$log")"
	! is_mounted "$(node_mount "$name")" || fail "a failed start left $(node_mount "$name") mounted"
	lines=$(grep -c '^clusterfsd: ' "$log" || true)
	[ "$lines" = 1 ] || fail "expected one line saying why, got $lines: $(cat "$log")"
	FAIL_LINE=$(grep '^clusterfsd: ' "$log")
	case $file in
	*/raft/*) [[ $FAIL_LINE == *"$file"* || $FAIL_LINE == *"$(node_data "$name")/raft"* ]] ;;
	*) [[ $FAIL_LINE == *"$file"* ]] ;;
	esac || fail "the line does not name $file: $FAIL_LINE"
	[[ $FAIL_LINE == *"re-seed this node from the cluster"* ]] ||
		fail "the line does not say what to do: $FAIL_LINE"
	say "start refused: $FAIL_LINE"
}

# reseed NAME: docs/operations.md, "A damaged data directory".
reseed() {
	local name=$1 id=${NODE_ID[$1]} d token
	d=$(node_data "$name")
	assert_cmd_ok ctl --mount "$(node_mount n1)" remove "$id"
	mv "$d" "$d.damaged.$id" || fail "cannot move $d away"
	token=$(ctl --mount "$(node_mount n1)" join-token) || fail "join-token on n1"
	node_start "$name" --join-token "$token" "${FLAGS[@]}"
	[ "${NODE_ID[$name]}" != "$id" ] || fail "the re-seeded node kept id $id"
	say "$name re-seeded: node ${NODE_ID[$name]} (was $id)"
}

round=0
for kind in store-truncated store-garbage segment-truncated segment-garbage metadata snapshot; do
	round=$((round + 1))
	say "round $round: $kind"
	writes "$round"
	wait_same_tree n1 n2 n3
	node_stop n3
	file=$(damage "$kind" "$(node_data n3)")
	start_fails n3 "$file"
	# The cluster goes on meanwhile.
	write_acked n2 "during-$round" "written while n3 was down ($kind)"
	reseed n3
	wait_same_tree -t 60 n1 n2 n3
	acked_everywhere n1 n2 n3
	write_acked n3 "after-$round" "written on the re-seeded n3"
	wait_same_tree n1 n2 n3
done
# Three voters again, and n3 one of them.
members_summary n1 | grep -c ' voter ' | grep -qx 3 || fail "not three voters: $(members_summary n1)"
