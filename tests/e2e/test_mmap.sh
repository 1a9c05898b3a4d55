#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# mmap(2) of files of the mount (docs/architecture.md, "The read path").
# Every descriptor uses direct I/O, and the kernel refuses to map such a
# file shared (ENODEV) unless the INIT reply asks for it, which libfuse 3.14
# cannot: fs/init_ext.c does. Checked here:
#  - each way programs map a file (shared read-only as Python's
#    mmap.ACCESS_READ does, private, shared read-write with msync, shared
#    writable on a read-only descriptor) gives what it gives on tmpfs;
#  - a shared mapping is never older than what its node applied: a change
#    on another node reaches it (the notifier drops its pages), and a
#    write(2) or an `echo >` rewrite on its own node shows at once;
#  - a change through a writable shared mapping, msync'ed, is committed:
#    the other nodes read it; written back through an O_APPEND descriptor,
#    a page goes at its offset (compared with tmpfs);
#  - a gate written through a mapping ("yes") shows, in that mapping too,
#    the value the cluster stored ("true").
# On a kernel older than Linux 6.6 (no shared mmap of direct-I/O files),
# the daemon says so in its log and the test is skipped.
source "$(dirname "$0")/lib.sh"

CHECK="$E2E_DIR/mmap_check.py"
TMPFS="$TEST_TMP/tmpfs"
mkdir -p "$TMPFS"
mount -t tmpfs -o size=16m cfs-e2e-mmap "$TMPFS" || fail "could not mount a tmpfs at $TMPFS"

cluster_start 2
wait_leader n1 n2
F=${FOLLOWERS[0]}
if grep -q "cannot map direct-I/O files shared" "$(node_log n1)"; then
	umount "$TMPFS"
	skip "this kernel ($(uname -r)) cannot map direct-I/O files shared (Linux 6.6 can)"
fi

for n in "$LEADER" "$F"; do
	want=$(python3 "$CHECK" probe "$TMPFS/probe-$n") || fail "the probe failed on tmpfs"
	got=$(mount_timeout python3 "$CHECK" probe "$(node_mount "$n")/probe") ||
		fail "the probe failed on $n's mount: $got"
	assert_eq "$want" "$got" "what mmap gave on $n's mount (tmpfs, then clusterfs)"
done
node_sync "$LEADER"
assert_file_content "$(node_mount "$LEADER")/probe" $'Aello mmap\n'

# A mapping on the follower, changes from the leader; then the reverse.
out=$(mount_timeout python3 "$CHECK" follow "$(node_mount "$F")/f" "$(node_mount "$LEADER")/f") ||
	fail "a mapping on the follower: $out"
say "$out"
out=$(mount_timeout python3 "$CHECK" follow "$(node_mount "$LEADER")/g" "$(node_mount "$F")/g") ||
	fail "a mapping on the leader: $out"
say "$out"
out=$(mount_timeout python3 "$CHECK" typed "$(node_mount "$F")/gates/feature.mapped") ||
	fail "a gate written through a mapping: $out"
say "$out"
for n in n1 n2; do
	node_sync "$n"
	assert_file_content "$(node_mount "$n")/gates/feature.mapped" $'true\n'
	assert_file_content "$(node_mount "$n")/f" $'v5\n'
	assert_file_content "$(node_mount "$n")/g" $'v5\n'
done
umount "$TMPFS"
say "PASS"
