#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Every system call is atomic (DESIGN §3; issue 11, parts 1 and 2), on three
# nodes through real mounts:
# - one write(2) is one entry whatever its offset, size (up to the 1 MiB
#   file limit) and buffer alignment: its revision is the node's applied
#   index + 1 (no other writer), on the leader and on a follower;
# - lines of random lengths appended concurrently from all three nodes
#   (one O_APPEND write each, across many page boundaries) are all there,
#   once and intact, in the same order on every node;
# - after open(O_TRUNC) every sequence behaves as if the file had been
#   truncated at open (the cases of the issue, one by one), except that
#   other descriptors read the old content until the replacing write
#   (documented: a reader never sees a file that `echo x > f` rewrites empty;
#   test_semantics.sh checks that);
# - a differential run of seeded random system-call sequences on a tmpfs the
#   test mounts and on a clusterfs mount agrees on every result, errno and
#   the final content (posix_diff.py).
source "$(dirname "$0")/lib.sh"

WA="python3 $E2E_DIR/write_atomicity.py"
# Seeds: fixed ones (reproducible failures) and one new per run (printed).
DIFF_SEEDS=${DIFF_SEEDS:-"1 2 3 $((RANDOM))"}

cluster_start 3
wait_leader "${CLUSTER[@]}"
L=$LEADER F1=${FOLLOWERS[0]} F2=${FOLLOWERS[1]}
ML=$(node_mount "$L") MF1=$(node_mount "$F1") MF2=$(node_mount "$F2")

say "one write(2) is one entry: random sizes up to 1 MiB, offsets and alignments (leader, then follower)"
$WA revisions "$ML/revisions" 11 40 || fail "writes on the leader $L were not one entry each"
$WA revisions "$MF1/revisions.f" 12 40 || fail "writes on the follower $F1 were not one entry each"

say "an 11-byte O_APPEND write at size 4090 raises the revision by exactly 1"
head -c 4090 /dev/zero | tr '\0' x >"$MF2/page"
before=$(status_field "$F2" applied_index)
printf 'hello world' >>"$MF2/page"
assert_eq $((before + 1)) "$(revision_of "$MF2/page")" "revision after an append across a page boundary"
assert_eq 4101 "$(stat -c %s "$MF2/page")" "size after the append"

say "lines of random lengths appended from all three nodes at once"
pids=()
for n in "${CLUSTER[@]}"; do
	$WA append "$(node_mount "$n")/log" "$n" 80 7 &
	pids+=($!)
	EXTRA_PIDS+=($!)
done
for p in "${pids[@]}"; do
	wait_exit "$p" 120
	[ "$EXIT_STATUS" = 0 ] || fail "an appender (pid $p) ended with status $EXIT_STATUS"
done
sums=""
for n in "${CLUSTER[@]}"; do
	node_sync "$n" || fail "clusterfsctl sync on $n failed"
	$WA verify "$(node_mount "$n")/log" n1,n2,n3 80 7 || fail "the log on $n lost or mixed a line"
	sums+="$(sha256sum <"$(node_mount "$n")/log")"$'\n'
done
assert_eq 1 "$(sort -u <<<"$sums" | grep -c .)" "distinct log contents across the nodes"

say "open(O_TRUNC) then anything: as if truncated at open (the issue's table)"
# trunc_case DIR NAME PYTHON: on a fresh 45-byte file DIR/NAME, run PYTHON
# (os is imported, F is its path) and print what it prints.
trunc_case() {
	local dir=$1 name=$2 code=$3
	printf '%045d' 0 | tr 0 o >"$dir/$name"
	python3 -c "import os, sys
F = sys.argv[1]
$code" "$dir/$name"
}
# content_is FILE HEX: FILE's content is HEX (a truncation that no write
# followed is committed just after the close returns).
content_is() { [ "$(od -An -v -tx1 "$1" | tr -d ' \n')" = "$2" ]; }
declare -A CASES=(
	[pwrite10]='fd = os.open(F, os.O_WRONLY | os.O_TRUNC); os.pwrite(fd, b"abc", 10); os.close(fd)'
	[ftrunc5]='fd = os.open(F, os.O_WRONLY | os.O_TRUNC); os.ftruncate(fd, 5); os.close(fd)'
	[append]='fd = os.open(F, os.O_WRONLY | os.O_TRUNC | os.O_APPEND); os.write(fd, b"abc"); os.close(fd)'
	[def_abc]='fd = os.open(F, os.O_WRONLY | os.O_TRUNC); os.pwrite(fd, b"def", 3); os.pwrite(fd, b"abc", 0); os.close(fd)'
	[fstat]='fd = os.open(F, os.O_RDWR | os.O_TRUNC); print(os.fstat(fd).st_size, os.stat(F).st_size, len(os.pread(fd, 100, 0))); os.close(fd)'
	[rdonly]='fd = os.open(F, os.O_RDONLY | os.O_TRUNC); print(os.fstat(fd).st_size); os.close(fd)'
)
REF=$TEST_TMP/ref
mkdir -p "$REF"
mount -t tmpfs -o size=64m cfs-e2e-ref "$REF" || fail "could not mount a tmpfs at $REF"
mkdir "$MF1/trunc"
for c in "${!CASES[@]}"; do
	want=$(trunc_case "$REF" "$c" "${CASES[$c]}")
	got=$(trunc_case "$MF1/trunc" "$c" "${CASES[$c]}")
	assert_eq "$want" "$got" "what case $c printed (tmpfs, then clusterfs)"
	want=$(od -An -v -tx1 "$REF/$c" | tr -d ' \n')
	wait_for -t 5 content_is "$MF1/trunc/$c" "$want"
done
node_sync "$F2" || fail "clusterfsctl sync on $F2 failed"
for c in "${!CASES[@]}"; do
	cmp "$REF/$c" "$MF2/trunc/$c" || fail "open(O_TRUNC) case $c: $F2 does not have tmpfs's result"
done

say "differential run against tmpfs, seeds: $DIFF_SEEDS"
for seed in $DIFF_SEEDS; do
	python3 "$E2E_DIR/posix_diff.py" "$REF" "$MF1" --seed "$seed" --sequences 25 --steps 40 ||
		fail "clusterfs and tmpfs differ (seed $seed; rerun: DIFF_SEEDS=$seed)"
done
umount "$REF" || fail "could not unmount $REF"
