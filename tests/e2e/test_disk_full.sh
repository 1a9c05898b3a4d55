#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A full disk (issue 12, part 4; DESIGN §3 ENOSPC). A node's data directory
# lives on a small tmpfs that this test mounts; it fills up through the
# mount and with a filler file (another program filling the disk).
# Required: writes on the node whose disk is full fail with ENOSPC and
# change nothing (a file keeps its old content, a refused create leaves no
# file), the daemon neither exits nor hangs and logs one line per episode,
# other nodes go on writing and keep identical trees, and once space is
# back the node takes writes again and catches up by itself; a restart
# afterwards finds the raft log and the store consistent (same tree).
#
#   1. one node: filled through the mount (below the reserve: ENOSPC,
#      deletions still work), then by a filler to 100% (nothing passes),
#      filler removed, files removed through the mount: writes work again;
#   2. three nodes, a follower's disk full: the others write on, the
#      follower catches up when the filler goes;
#   3. three nodes, the leader's disk full: it hands leadership over;
#   4. three nodes, a follower with --disk-reserve 0: its store itself
#      cannot write (SQLITE_FULL) and defers the entries, in order, until
#      there is room.
source "$(dirname "$0")/lib.sh"

# The data directory's disk: raft_uv preallocates three 8 MiB log segments
# (24 MiB), the default reserve is 32 MiB (docs/operations.md).
DISK_SIZE=${DISK_FULL_SIZE:-64m}
CHUNK=$((512 * 1024))   # one write(2) per file, one entry
ENOSPC_TEXT="No space left on device"

declare -a SMALL_DISKS=()

# small_disk NAME: NAME's data directory becomes a tmpfs of DISK_SIZE.
small_disk() {
	local d
	d=$(node_data "$1")
	mkdir -p "$d"
	mount -t tmpfs -o "size=$DISK_SIZE,mode=0700" tmpfs "$d" || fail "cannot mount a tmpfs on $d"
	SMALL_DISKS+=("$d")
}

# unmount_small_disks: after the nodes stopped (the EXIT trap lazily
# unmounts whatever is left on a failure).
unmount_small_disks() {
	local d
	for d in "${SMALL_DISKS[@]}"; do
		umount "$d" || fail "cannot unmount the tmpfs at $d"
	done
	SMALL_DISKS=()
}

# fill_disk NAME: a filler file takes every free block of NAME's disk.
fill_disk() {
	local f
	f=$(node_data "$1")/filler
	dd if=/dev/zero of="$f" bs=1M status=none 2>/dev/null || true
	dd if=/dev/zero of="$f" bs=4k oflag=append conv=notrunc status=none 2>/dev/null || true
	say "$1's disk: $(df -h --output=used,avail "$(node_data "$1")" | tail -n 1)"
}

free_disk() { rm -f "$(node_data "$1")/filler"; }

# try CMD...: run a shell command; print OK, or its error message.
try() {
	local err
	if err=$( (eval "$*") 2>&1 >/dev/null); then
		echo OK
	else
		echo "${err:-failed}"
	fi
}

# assert_enospc WHAT CMD...: the command fails with ENOSPC.
assert_enospc() {
	local what=$1 got
	shift
	got=$(try "$@")
	[[ $got == *"$ENOSPC_TEXT"* ]] || fail "$what: expected ENOSPC, got [$got]"
}

assert_try_ok() {
	local what=$1 got
	shift
	got=$(try "$@")
	[ "$got" = OK ] || fail "$what: expected success, got [$got]"
}

# writes_work NAME FILE CONTENT: writing CONTENT to FILE through NAME's
# mount succeeds (for wait_for).
writes_work() { printf '%s' "$3" >"$(node_mount "$1")/$2" 2>/dev/null; }

# log_count NAME REGEX: lines of NAME's log matching REGEX.
log_count() { grep -cE "$2" "$(node_log "$1")" || true; }

assert_alive() {
	node_is_running "$1" || fail "node $1 exited: $(tail -n 5 "$(node_log "$1")")"
	ctl --mount "$(node_mount "$1")" status >/dev/null 2>&1 ||
		ls "$(node_mount "$1")" >/dev/null || fail "node $1's mount does not answer"
}

# DISK_FULL_PHASES: which of the rounds below to run (for debugging).
PHASES=" ${DISK_FULL_PHASES:-1 2 3 4} "
phase() { [[ $PHASES == *" $1 "* ]]; }

LOW_LINE='keeps \(--disk-reserve\)'
FULL_LINE='needs to go on storing entries'
BACK_LINE='has room again'

# ---------------------------------------------------------------------------
run_phase1() {
say "1. one node, its disk filled through the mount and by a filler"
small_disk s
node_start s
M=$(node_mount s)
printf 'v1\n' >"$M/keep"
mkdir "$M/dir"
n=0
while :; do
	got=$(try "dd if=/dev/zero of='$M/f$n' bs=$CHUNK count=1 status=none")
	[ "$got" = OK ] || break
	n=$((n + 1))
	((n < 200)) || fail "200 writes of $CHUNK bytes fitted on a $DISK_SIZE disk"
done
[[ $got == *"$ENOSPC_TEXT"* ]] || fail "filling the disk ended with [$got], not ENOSPC"
((n >= 4)) || fail "only $n files fitted before ENOSPC"
say "ENOSPC after $n files of $CHUNK bytes"
assert_not_exists "$M/f$n" # a refused create leaves nothing
assert_alive s
assert_eq 1 "$(log_count s "$LOW_LINE")" "lines saying the disk is low"
# Refused, and nothing changed: old content, no new name.
assert_enospc "rewrite of keep" "printf 'v2\n' >'$M/keep'"
assert_file_content "$M/keep" $'v1\n'
assert_enospc "mkdir" "mkdir '$M/newdir'"
assert_not_exists "$M/newdir"
assert_fails_with ENOSPC writefile "$M/dir/new" 10
assert_not_exists "$M/dir/new"
# Deletions make room through the mount (below the reserve, not the floor).
assert_try_ok "rm of a file on a low disk" "rm '$M/f0'"

fill_disk s
assert_enospc "rm on a full disk" "rm '$M/f1'"
assert_exists "$M/f1"
assert_enospc "write on a full disk" "printf 'v3\n' >'$M/keep'"
assert_file_content "$M/keep" $'v1\n'
assert_fails_with ENOSPC mkdir "$M/d2"
assert_alive s
assert_eq 1 "$(log_count s "$FULL_LINE")" "lines saying the disk is full"
# Reads are served as ever.
assert_eq "$((CHUNK))" "$(stat -c %s "$M/f1")" "size of f1"

free_disk s
# Back below the reserve only (the node's own files fill it): rm makes room.
wait_for -t 10 eval "[ \"\$(try \"rm -f '$M/f1'\")\" = OK ]"
for ((i = 2; i < n; i++)); do
	rm -f "$M/f$i" || fail "rm f$i after the filler went: $?"
done
wait_for -t 20 writes_work s keep $'v4\n'
assert_file_content "$M/keep" $'v4\n'
assert_try_ok "mkdir with room again" "mkdir '$M/newdir'"
assert_eq 1 "$(log_count s "$LOW_LINE")" "lines saying the disk is low (one episode)"
assert_alive s
before=$(tree_hash "$M")
node_stop s
node_restart s
assert_eq "$before" "$(tree_hash "$M")" "tree after a restart"
node_stop s
unmount_small_disks
}

# ---------------------------------------------------------------------------
# cluster3 SMALL [EXTRA FLAGS FOR SMALL]: n1 bootstraps, n2 and n3 join;
# node SMALL's data directory is a small disk.
cluster3() {
	local small=$1 n
	shift
	small_disk "$small"
	for n in n1 n2 n3; do
		local -a extra=()
		[ "$n" = "$small" ] && extra=("$@")
		if [ "$n" = n1 ]; then
			node_start n1 "${extra[@]}"
		else
			node_join "$n" n1 "${extra[@]}"
		fi
	done
	wait_leader n1 n2 n3
}

# write_acked NAME FILE CONTENT: write through NAME's mount, retrying for a
# bounded time while a leader hands over; remember what was acknowledged.
declare -A ACKED=()
write_acked() {
	local name=$1 file=$2 content=$3
	wait_for -t 20 writes_work "$name" "$file" "$content"
	ACKED[$file]=$content
}

# acked_everywhere NAME...: every acknowledged write is there on every node.
acked_everywhere() {
	local name f
	for name in "$@"; do
		for f in "${!ACKED[@]}"; do
			assert_file_content "$(node_mount "$name")/$f" "${ACKED[$f]}"
		done
	done
}

reset_cluster() {
	local n
	for n in n1 n2 n3; do
		node_stop "$n"
	done
	unmount_small_disks
	for n in n1 n2 n3; do
		rm -rf "${TEST_TMP:?}/$n"
	done
	ACKED=()
}

# ---------------------------------------------------------------------------
run_phase2() {
say "2. three nodes, a follower's disk full"
cluster3 n3
write_acked n1 base "base"
wait_same_tree n1 n2 n3
if [ "$LEADER" = n3 ]; then
	say "n3 leads (an election after the joins): this round checks a full leader"
fi
fill_disk n3
assert_enospc "write on the full follower" "printf x >'$(node_mount n3)/from-n3'"
assert_not_exists "$(node_mount n3)/from-n3"
for ((i = 0; i < 12; i++)); do
	write_acked n1 "a$i" "from n1 $i"
	write_acked n2 "b$i" "from n2 $i"
done
mv "$(node_mount n1)/a0" "$(node_mount n1)/a0.moved" || fail "rename on n1"
unset 'ACKED[a0]'
ACKED[a0.moved]="from n1 0"
rm "$(node_mount n2)/b0" || fail "rm on n2"
unset 'ACKED[b0]'
wait_same_tree n1 n2
acked_everywhere n1 n2
assert_alive n3
assert_file_content "$(node_mount n3)/base" "base"
assert_eq 1 "$(log_count n3 "$FULL_LINE")" "lines of n3 saying its disk is full"
free_disk n3
wait_same_tree -t 60 n1 n2 n3
acked_everywhere n1 n2 n3
wait_for -t 20 writes_work n3 from-n3 "from n3"
ACKED[from-n3]="from n3"
wait_same_tree n1 n2 n3
assert_eq 1 "$(log_count n3 "$BACK_LINE")" "lines of n3 saying it has room again"
node_stop n3
node_restart n3
wait_same_tree n1 n2 n3
acked_everywhere n1 n2 n3
reset_cluster
}

# ---------------------------------------------------------------------------
run_phase3() {
say "3. three nodes, the leader's disk full"
cluster3 n1
write_acked n1 base "base"
wait_same_tree n1 n2 n3
if [ "$LEADER" != n1 ]; then
	say "n1 does not lead ($LEADER does): this round checks a full follower"
fi
fill_disk n1
# It hands leadership over; the others take writes.
wait_leader -t 30 n2 n3
assert_ne n1 "$LEADER" "leader after n1's disk filled"
for ((i = 0; i < 8; i++)); do
	write_acked n2 "c$i" "from n2 $i"
	write_acked n3 "d$i" "from n3 $i"
done
assert_enospc "write on the full former leader" "printf x >'$(node_mount n1)/from-n1'"
assert_not_exists "$(node_mount n1)/from-n1"
wait_same_tree n2 n3
acked_everywhere n2 n3
assert_alive n1
free_disk n1
wait_same_tree -t 60 n1 n2 n3
acked_everywhere n1 n2 n3
wait_for -t 20 writes_work n1 from-n1 "from n1"
ACKED[from-n1]="from n1"
wait_same_tree n1 n2 n3
node_stop n1
node_restart n1
wait_same_tree n1 n2 n3
acked_everywhere n1 n2 n3
reset_cluster
}

# ---------------------------------------------------------------------------
run_phase4() {
say "4. three nodes, a follower without a reserve: its store cannot write"
cluster3 n3 --disk-reserve 0
write_acked n1 base "base"
wait_same_tree n1 n2 n3
fill_disk n3
# Big entries: the store's WAL must grow, and cannot.
for ((i = 0; i < 6; i++)); do
	dd if=/dev/zero of="$(node_mount n1)/big$i" bs=$CHUNK count=1 status=none ||
		fail "write of big$i on n1"
	write_acked n1 "e$i" "after big $i"
done
wait_for -t 20 eval "[ \"\$(log_count n3 'cannot apply entry [0-9]+ to the store: the disk holding it is full')\" = 1 ]"
assert_alive n3
assert_enospc "write on the follower whose store cannot write" \
	"printf x >'$(node_mount n3)/from-n3'"
wait_same_tree n1 n2
acked_everywhere n1 n2
free_disk n3
wait_same_tree -t 60 n1 n2 n3
acked_everywhere n1 n2 n3
assert_eq 1 "$(log_count n3 'the store can write again: applied')" "lines of n3 saying its store caught up"
assert_eq 1 "$(log_count n3 'cannot apply entry')" "lines of n3 about the store"
node_stop n3
node_restart n3
wait_same_tree n1 n2 n3
reset_cluster
}

for p in 1 2 3 4; do
	if phase "$p"; then
		"run_phase$p"
	fi
done
