#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Filesystem semantics (DESIGN §3, §4 .cluster/, §9 limits) on one node:
# revision and writer xattrs, no-op writes, user xattrs, appends, open
# descriptors on unlinked/replaced files, atomic rename and renameat2 flags,
# size and name limits, the read-only .cluster/ directory, statfs and fsync,
# and what a shell write costs in FUSE requests (no FLUSH).
#
# Checks that expose a product bug are run with check() so that the rest of
# the contract is still exercised; the test fails at the end if any did.
# shellcheck disable=SC2012,SC2010 # listing with ls is what these tests exercise
# shellcheck disable=SC2016 # bash -c scripts take their values as "$1"...
source "$(dirname "$0")/lib.sh"

node_start a
M=$(node_mount a)
cd "$M"

# --- revision and writer ----------------------------------------------------------

say "user.clusterfs.revision is a number that grows on change"
echo one >f
r1=$(revision_of f)
assert_match '^[0-9]+$' "$r1" "revision of f"
echo two >f
r2=$(revision_of f)
assert_match '^[0-9]+$' "$r2" "revision of f after a change"
((r2 > r1)) || fail "revision did not grow on a change: $r1 -> $r2"
mkdir app
assert_match '^[0-9]+$' "$(revision_of app)" "revision of a directory"

say "a no-op write changes nothing (revision, mtime)"
touch -d '2020-01-01 00:00:00 UTC' f
r2=$(revision_of f)
mt=$(stat -c %Y f)
# The same bytes written in place, without O_TRUNC.
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY); os.write(fd, b"two\n"); os.close(fd)' f
assert_file_content f $'two\n'
check assert_eq "$r2" "$(revision_of f)" "revision after an identical pwrite"
check assert_eq "$mt" "$(stat -c %Y f)" "mtime after an identical pwrite"
# The same content through the shell: open(O_TRUNC) + write (DESIGN §3: one
# entry, and a no-op when the content is the same).
echo two >f
assert_file_content f $'two\n'
check assert_eq "$r2" "$(revision_of f)" "revision after 'echo two > f' with f already 'two'"
check assert_eq "$mt" "$(stat -c %Y f)" "mtime after 'echo two > f' with f already 'two'"
printf 'two\n' >f
check assert_eq "$r2" "$(revision_of f)" "revision after 'printf two > f' with f already 'two'"
cp f f.same
rs=$(revision_of f.same)
cp f f.same
check assert_eq "$rs" "$(revision_of f.same)" "revision after cp of identical content over a file"
echo three >f
r3=$(revision_of f)
((r3 > r2)) || fail "revision did not grow on a real change after no-op writes: $r2 -> $r3"

say "user.clusterfs.writer names the node and the uid"
assert_eq "node=1 uid=0" "$(writer_of f)" "writer of f (root)"
mkdir pub
chmod 1777 pub
setpriv --reuid 65534 --regid 65534 --clear-groups sh -c 'echo by-nobody > pub/n'
assert_file_content pub/n $'by-nobody\n'
assert_eq "node=1 uid=65534" "$(writer_of pub/n)" "writer of pub/n"
assert_eq "65534 65534" "$(stat -c '%u %g' pub/n)" "owner of a file nobody created"
echo root-again >>pub/n
assert_eq "node=1 uid=0" "$(writer_of pub/n)" "writer of pub/n after root appended"
assert_eq "65534" "$(stat -c %u pub/n)" "owner unchanged by another writer"

say "modes and owners are enforced (default_permissions)"
echo private >private
chmod 644 private
assert_cmd_fails -e 'Permission denied' setpriv --reuid 65534 --regid 65534 --clear-groups sh -c "echo x > '$M/private'"
assert_cmd_fails -e 'Permission denied' setpriv --reuid 65534 --regid 65534 --clear-groups rm -f "$M/private"
chmod 600 private
assert_cmd_fails -e 'Permission denied' setpriv --reuid 65534 --regid 65534 --clear-groups cat "$M/private"
assert_file_content private $'private\n'

# --- xattrs -------------------------------------------------------------------------

say "user xattrs: set, get, list, replace, remove"
echo x >xf
setfattr -n user.color -v blue xf
assert_eq blue "$(getfattr --only-values -n user.color xf)" "user.color"
setfattr -n user.color -v green xf
assert_eq green "$(getfattr --only-values -n user.color xf)" "user.color after replace"
setfattr -n user.empty -v '' xf
assert_eq "" "$(getfattr --only-values -n user.empty xf)" "user.empty"
names=$(getfattr --absolute-names -d -m '^user\.' xf | grep -o '^user\.[a-z.]*' | sort | tr '\n' ' ')
# The generated user.clusterfs.* are readable by name but not listed, so that
# cp -a / mv / rsync -X, which copy what is listed, do not try to set them.
assert_eq "user.color user.empty " "$names" "listed xattrs"
cp -a xf "$TEST_TMP/xf-copy" 2>"$TEST_TMP/cp.err" || true
assert_eq "" "$(grep clusterfs "$TEST_TMP/cp.err" || true)" "cp -a does not trip over generated xattrs"
assert_fails_with EEXIST setxattr xf user.color red create
assert_fails_with ENODATA setxattr xf user.absent red replace
assert_ok setxattr xf user.color red replace
assert_eq "OK red" "$(probe getxattr xf user.color)" "user.color after XATTR_REPLACE"
setfattr -x user.color xf
assert_fails_with ENODATA getxattr xf user.color
assert_fails_with ENODATA removexattr xf user.color
mkdir xdir
setfattr -n user.dir -v d xdir
assert_eq d "$(getfattr --only-values -n user.dir xdir)" "xattr on a directory"

say "user.clusterfs.* cannot be set or removed (EPERM); other namespaces: not supported"
rx=$(revision_of xf)
assert_fails_with EPERM setxattr xf user.clusterfs.revision 1
assert_fails_with EPERM setxattr xf user.clusterfs.writer "node=9 uid=9"
assert_fails_with EPERM setxattr xf user.clusterfs.other x
assert_fails_with EPERM removexattr xf user.clusterfs.revision
assert_cmd_fails setfattr -n user.clusterfs.revision -v 1 xf
assert_eq "$rx" "$(revision_of xf)" "revision after refused xattr changes"
assert_eq "node=1 uid=0" "$(writer_of xf)" "writer after refused xattr changes"
assert_fails_with ENOTSUP setxattr xf trusted.x 1

# --- appends ------------------------------------------------------------------------

say "echo >> appends every line"
expected=""
for i in $(seq 1 60); do
	echo "line $i" >>log
	expected+="line $i"$'\n'
done
assert_file_content log "$expected"

say "a long-lived O_APPEND descriptor appends after other writers' data"
echo start >alog
exec 3>>alog
echo other-1 >>alog
echo fd3-1 >&3
echo other-2 >>alog
echo fd3-2 >&3
assert_file_content alog $'start\nother-1\nfd3-1\nother-2\nfd3-2\n'
# Content replaced by a shorter one behind the descriptor's back: the next
# append lands at the new end, with no hole.
printf '%s\n' "$(head -c 200 /dev/zero | tr '\0' a)" >alog
echo short >alog
echo fd3-3 >&3
exec 3>&-
assert_file_content alog $'short\nfd3-3\n'

say "two concurrent appenders lose nothing"
: >clog
(for i in $(seq 1 80); do echo "A $i" >>clog; done) &
pa=$!
(for i in $(seq 1 80); do echo "B $i" >>clog; done) &
pb=$!
EXTRA_PIDS+=("$pa" "$pb")
wait_exit "$pa" 30
assert_eq 0 "$EXIT_STATUS" "appender A exit status"
wait_exit "$pb" 30
assert_eq 0 "$EXIT_STATUS" "appender B exit status"
assert_eq 160 "$(wc -l <clog)" "lines in clog"
assert_eq "$(seq 1 80 | sed 's/^/A /')" "$(grep '^A ' clog)" "A's lines, in order"
assert_eq "$(seq 1 80 | sed 's/^/B /')" "$(grep '^B ' clog)" "B's lines, in order"

# --- open descriptors on unlinked and replaced files ---------------------------------

say "an unlinked file stays readable and writable through an open descriptor"
echo original >u
exec 4<>u
rm u
assert_not_exists u
assert_eq original "$(cat <&4)" "read through fd 4 after unlink"
echo more >&4
exec 4>&-
out=$(python3 - "$M/u2" <<'EOF'
import os, sys
p = sys.argv[1]
with open(p, "w") as f:
    f.write("before\n")
fd = os.open(p, os.O_RDWR)
os.unlink(p)
assert not os.path.exists(p)
os.lseek(fd, 0, os.SEEK_END)
os.write(fd, b"after-unlink\n")
os.lseek(fd, 0, os.SEEK_SET)
print(os.read(fd, 100).decode(), end="")
os.ftruncate(fd, 3)
os.lseek(fd, 0, os.SEEK_SET)
print(os.read(fd, 100).decode())
os.fsync(fd)
os.close(fd)
EOF
)
assert_eq $'before\nafter-unlink\nbef' "$out" "read back through a descriptor of an unlinked file"
assert_not_exists u2

say "a file replaced by mv stays readable and writable through an open descriptor"
echo old-content >r
echo new-content >r.new
exec 5<>r
mv r.new r
assert_file_content r $'new-content\n'
assert_eq old-content "$(cat <&5)" "read through fd 5 after mv over it"
echo appended-to-old >&5
exec 5>&-
assert_file_content r $'new-content\n'

say "once the last descriptor is closed, the unlinked and replaced files are gone from the store"
orphans() {
	ctl --mount "$M" backup "$TEST_TMP/orphans.db" >/dev/null &&
		python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from inodes where nlink = 0").fetchone()[0])' "$TEST_TMP/orphans.db"
}
no_orphans() { [ "$(orphans)" = 0 ]; }
wait_for -t 10 no_orphans || fail "$(orphans) orphaned inodes left in the store after every descriptor closed"

# --- rename ---------------------------------------------------------------------------

say "rename replaces a file atomically"
echo v1 >cfg
echo v2 >cfg.tmp
mv cfg.tmp cfg
assert_file_content cfg $'v2\n'
assert_not_exists cfg.tmp
assert_fails_with ENOENT rename cfg.tmp cfg
assert_file_content cfg $'v2\n'

# start_reader PATH OUT ALLOWED...: a background reader that opens and reads
# PATH in a loop until OUT.stop exists, and writes to OUT what it saw and any
# read that failed or returned something not in ALLOWED. Sets READER.
start_reader() {
	local path=$1 out=$2
	shift 2
	python3 - "$path" "$out" "$@" <<'EOF' &
import sys, time
path, out, allowed = sys.argv[1], sys.argv[2], sys.argv[3:]
seen, bad, reads = set(), [], 0
deadline = time.time() + 30
while time.time() < deadline:
    try:
        with open(path) as f:
            v = f.read()
        reads += 1
        if reads == 1:
            open(out + ".ready", "w").close()
        if v in allowed:
            seen.add(v.strip())
        else:
            bad.append("content %r" % v)
    except OSError as e:
        bad.append("%s" % e)
    try:
        open(out + ".stop").close()
        break
    except OSError:
        pass
with open(out, "w") as f:
    f.write("seen=%s\n" % ",".join(sorted(seen)))
    if bad:
        f.write("%d of %d reads failed, first: %s\n" % (len(bad), reads + len(bad), bad[0]))
EOF
	READER=$!
	EXTRA_PIDS+=("$READER")
	# Writers start once the reader reads: python takes longer to start
	# than a burst of writes takes to finish.
	wait_for -t 20 test -e "$out.ready" || fail "the reader did not start"
}

# stop_reader OUT: stop the reader; its report goes to REPORT.
stop_reader() {
	touch "$1.stop"
	wait_exit "$READER" 40
	[ "$EXIT_STATUS" = 0 ] || fail "reader exit status $EXIT_STATUS"
	REPORT=$(cat "$1")
}

say "symlink cut-over: ln -s v43 routing/current.new && mv -T routing/current.new routing/current"
echo table-42 >routing/v42
echo table-43 >routing/v43
ln -s v42 routing/current
assert_file_content routing/current $'table-42\n'
# A reader must only ever see one table or the other, never nothing.
start_reader "$M/routing/current" "$TEST_TMP/reader1" $'table-42\n' $'table-43\n'
for i in $(seq 1 60); do
	if ((i % 2)); then t=v43; else t=v42; fi
	ln -s "$t" routing/current.new
	mv -T routing/current.new routing/current
	assert_eq "$t" "$(readlink routing/current)" "readlink routing/current after cut-over $i"
done
stop_reader "$TEST_TMP/reader1"
check assert_eq "seen=table-42,table-43" "$REPORT" "what a reader saw during 60 symlink cut-overs"
assert_eq v42 "$(readlink routing/current)" "final readlink"
assert_file_content routing/current $'table-42\n'
assert_not_exists routing/current.new

say "file replacement by rename: a reader never misses the file"
echo version-a >table
start_reader "$M/table" "$TEST_TMP/reader2" $'version-a\n' $'version-b\n'
for i in $(seq 1 60); do
	if ((i % 2)); then v=version-b; else v=version-a; fi
	echo "$v" >table.tmp
	mv table.tmp table
done
stop_reader "$TEST_TMP/reader2"
check assert_eq "seen=version-a,version-b" "$REPORT" "what a reader saw during 60 replacements by rename"
assert_file_content table $'version-a\n'

say "echo > f replaces the content in one step: a reader never sees it empty"
echo version-a >whole
start_reader "$M/whole" "$TEST_TMP/reader3" $'version-a\n' $'version-b\n'
for i in $(seq 1 300); do
	if ((i % 2)); then v=version-b; else v=version-a; fi
	echo "$v" >whole
done
stop_reader "$TEST_TMP/reader3"
check assert_eq "seen=version-a,version-b" "$REPORT" "what a reader saw during 300 'echo > whole' rewrites"
assert_file_content whole $'version-a\n'

say "renameat2: RENAME_NOREPLACE and RENAME_EXCHANGE"
echo A >ra
echo B >rb
assert_fails_with EEXIST renameat2 ra rb noreplace
assert_file_content ra $'A\n'
assert_file_content rb $'B\n'
assert_ok renameat2 ra rc noreplace
assert_not_exists ra
assert_file_content rc $'A\n'
assert_ok renameat2 rc rb exchange
assert_file_content rc $'B\n'
assert_file_content rb $'A\n'
assert_fails_with ENOENT renameat2 rc missing exchange
assert_file_content rc $'B\n'
mkdir -p xd/inner
echo in-dir >xd/inner/file
assert_ok renameat2 rc xd exchange # a file and a directory swap names
assert_file_content xd $'B\n'
assert_file_content rc/inner/file $'in-dir\n'
mv rc xd2 && mv xd rc && mv xd2 xd

say "renames that must fail"
mkdir -p tree/sub/deeper
assert_fails_with EINVAL rename tree tree/sub/moved
assert_fails_with EINVAL rename tree tree/sub/deeper/moved
assert_cmd_fails mv tree tree/sub/
[ -d tree/sub/deeper ] || fail "tree changed after a refused rename"
mkdir -p full/x
mkdir empty
assert_fails_with ENOTEMPTY rename empty full
assert_fails_with ENOTDIR rename empty cfg
assert_fails_with EISDIR rename cfg empty
assert_ok rename full empty # over an empty directory
[ -d empty/x ] || fail "empty/x missing after renaming full over empty"
assert_not_exists full

# --- limits -----------------------------------------------------------------------------

say "EFBIG: a file may not grow past 1 MiB"
assert_cmd_fails -e 'File too large' dd if=/dev/zero of=big bs=1M count=2 status=none
size=$(stat -c %s big)
((size <= 1048576)) || fail "big grew past 1 MiB: $size"
assert_fails_with EFBIG writefile big2 1048577
size=$(stat -c %s big2)
((size <= 1048576)) || fail "big2 grew past 1 MiB: $size"
assert_ok writefile exact 1048576
assert_eq 1048576 "$(stat -c %s exact)" "size of a file of exactly 1 MiB"
assert_fails_with EFBIG write exact wronly,append x
assert_fails_with EFBIG truncate exact 1048577
assert_eq 1048576 "$(stat -c %s exact)" "size after refused growth"
echo small >small
assert_fails_with EFBIG truncate small 2097152
assert_file_content small $'small\n'

say "ENAMETOOLONG for a 256-byte name; 255 is fine"
n255=$(printf 'n%.0s' $(seq 1 255))
n256=${n255}x
assert_fails_with ENAMETOOLONG open "$n256" wronly,creat
assert_fails_with ENAMETOOLONG mkdir "$n256"
assert_fails_with ENAMETOOLONG symlink target "$n256"
assert_fails_with ENAMETOOLONG rename cfg "$n256"
assert_cmd_fails -e 'File name too long' touch "$n256"
echo long >"$n255"
assert_file_content "$n255" $'long\n'
assert_eq 0 "$(ls | grep -c "^$n256\$" || true)" "a 256-byte name in the listing"

# --- .cluster/ ----------------------------------------------------------------------------

say ".cluster/ files are readable"
assert_eq "backup join-token leader log members metrics self status version" "$(ls .cluster | sort | tr '\n' ' ' | sed 's/ $//')" "ls .cluster"
assert_file_content .cluster/self $'1\n'
assert_file_content .cluster/leader "1 $(node_addr a)"$'\n'
assert_match '^clusterfs [0-9]+\.[0-9]+\.[0-9]+' "$(cat .cluster/version)" ".cluster/version"
status=$(cat .cluster/status)
for kv in id=1 state=leader role=voter phase=member quorum=yes leader=1 "address=$(node_addr a)"; do
	grep -qx "$kv" <<<"$status" || fail ".cluster/status lacks the line $kv: [$status]"
done
for k in term commit_index applied_index; do
	grep -Eqx "$k=[0-9]+" <<<"$status" || fail ".cluster/status lacks a numeric $k: [$status]"
done
applied1=$(sed -n 's/^applied_index=//p' .cluster/status)
echo bump >bump
applied2=$(sed -n 's/^applied_index=//p' .cluster/status)
((applied2 > applied1)) || fail "applied_index did not grow with a write: $applied1 -> $applied2"
assert_eq "$(stat -c %s .cluster/status)" "$(wc -c <.cluster/status)" "stat size of .cluster/status vs bytes read"

say "writes and creates under .cluster/ give EROFS"
assert_fails_with EROFS write .cluster/self wronly 2
assert_fails_with EROFS open .cluster/status rdwr
assert_fails_with EROFS open .cluster/new wronly,creat
assert_fails_with EROFS mkdir .cluster/dir
assert_fails_with EROFS unlink .cluster/self
assert_fails_with EROFS rename .cluster/self .cluster/self2
assert_fails_with EROFS rename cfg .cluster/cfg
assert_fails_with EROFS symlink x .cluster/link
assert_fails_with EROFS link cfg .cluster/hard
assert_fails_with EROFS chmod .cluster/self 777
assert_fails_with EROFS truncate .cluster/self 0
assert_fails_with EROFS setxattr .cluster/self user.x 1
assert_fails_with EROFS rmdir .cluster
assert_fails_with EROFS rename .cluster cluster2
assert_cmd_fails -e 'Read-only file system' bash -c "echo x > '$M/.cluster/self'"
assert_file_content .cluster/self $'1\n'

# --- statfs and fsync -------------------------------------------------------------------------

say "statfs"
assert_ok statfs .
assert_eq 255 "$(stat -f -c %l .)" "statfs name max"
assert_eq 4096 "$(stat -f -c %S .)" "statfs fundamental block size"
blocks=$(stat -f -c %b .)
free1=$(stat -f -c %f .)
((blocks >= 65536)) || fail "statfs total blocks $blocks: less than the 256 MiB store limit"
((free1 > 0 && free1 <= blocks)) || fail "statfs free blocks $free1 of $blocks"
head -c 524288 /dev/urandom >half
free2=$(stat -f -c %f .)
((free2 <= free1 - 100)) || fail "statfs free blocks did not shrink after writing 512 KiB: $free1 -> $free2"
df "$M" >/dev/null || fail "df on the mount failed"

say "fsync"
sync f || fail "sync FILE failed"
assert_ok fsync f
assert_ok fsync .
assert_ok fsync app

say "what a shell write costs: no FLUSH round trip at close (clusterfs_fuse_requests_total)"
# Every open answers FOPEN_NOFLUSH (fs_file_open_flags); the kernel (5.17 or
# later) then sends no FLUSH at close(2).
# fuse_count FILE OP: FUSE requests of kind OP in a copy of the metrics (0
# before the first of its kind).
fuse_count() {
	local v
	v=$(sed -n "s/^clusterfs_fuse_requests_total{op=\"$2\"} //p" "$1")
	echo "${v:-0}"
}
echo start >costly
cat .cluster/metrics >"$TEST_TMP/m0"
for i in $(seq 1 20); do echo "v$i" >costly; done
cat costly >/dev/null
cat .cluster/metrics >"$TEST_TMP/m1"
[ "$(fuse_count "$TEST_TMP/m0" open)" -gt 0 ] || fail "no clusterfs_fuse_requests_total{op=\"open\"} in the metrics"
delta() { echo $(($(fuse_count "$TEST_TMP/m1" "$1") - $(fuse_count "$TEST_TMP/m0" "$1"))); }
assert_eq 0 "$(delta flush)" "FLUSH requests for 20 'echo > f' and a cat"
assert_eq 20 "$(delta write)" "WRITE requests for 20 'echo > f'"
# and the second copy of the metrics opened them
assert_eq 22 "$(delta open)" "OPEN requests for 20 'echo > f', a cat and a cat of the metrics"
assert_file_content costly $'v20\n'

cd /
node_stop a
