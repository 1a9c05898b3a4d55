#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The tour (DESIGN §3, §4): one node, plain shell tools on the mount.
# Files, directories, renames, symlinks, modes, owners, hard links, removal,
# multi-write files, truncate, timestamps, a 1 MiB copy, readdir, the fixed
# namespace directories, and the refusal of device nodes and FIFOs.
# shellcheck disable=SC2012 # listing with ls is what these tests exercise
# shellcheck disable=SC2016 # bash -c scripts take their values as "$1"...
source "$(dirname "$0")/lib.sh"

node_start a
M=$(node_mount a)
cd "$M"

say "mkdir -p, echo >, cat"
mkdir -p app/conf
echo 'port=80' >app/conf/web
assert_file_content app/conf/web $'port=80\n'
assert_eq "directory" "$(stat -c %F app/conf)" "type of app/conf"
assert_eq "regular file" "$(stat -c %F app/conf/web)" "type of app/conf/web"
assert_eq 8 "$(stat -c %s app/conf/web)" "size of app/conf/web"

say "overwrite with a shorter value"
echo 'p=1' >app/conf/web
assert_file_content app/conf/web $'p=1\n'
echo 'port=80' >app/conf/web

say "mv renames, the old name is gone"
ino=$(stat -c %i app/conf/web)
mv app/conf/web app/conf/web.conf
assert_not_exists app/conf/web
assert_file_content app/conf/web.conf $'port=80\n'
assert_eq "$ino" "$(stat -c %i app/conf/web.conf)" "inode after rename"
mkdir app/other
mv app/conf/web.conf app/other/
assert_file_content app/other/web.conf $'port=80\n'
assert_not_exists app/conf/web.conf
mv app/other app/moved
assert_file_content app/moved/web.conf $'port=80\n'
assert_not_exists app/other

say "symlinks"
echo v2-table >v2
ln -s v2 current
assert_eq v2 "$(readlink current)" "readlink current"
assert_eq "symbolic link" "$(stat -c %F current)" "type of current"
assert_file_content current $'v2-table\n'
ln -s /nonexistent/target dangling
assert_eq /nonexistent/target "$(readlink dangling)" "readlink dangling"
[ ! -e dangling ] || fail "dangling symlink resolves"

say "chmod, chown, stat"
echo secret >secret
chmod 600 secret
assert_eq 600 "$(stat -c %a secret)" "mode of secret"
assert_eq "-rw-------" "$(stat -c %A secret)" "mode string of secret"
chmod 4755 secret
assert_eq 4755 "$(stat -c %a secret)" "mode with setuid bit"
chmod 640 secret
chown 65534:65534 secret
assert_eq "65534 65534" "$(stat -c '%u %g' secret)" "owner of secret"
chown 0 secret
assert_eq "0 65534" "$(stat -c '%u %g' secret)" "owner after chown 0"
chmod 700 app
assert_eq 700 "$(stat -c %a app)" "mode of directory app"
chmod 755 app

say "hard links share inode and content"
echo shared >h1
ln h1 h2
assert_eq "2 2" "$(stat -c %h h1) $(stat -c %h h2)" "link counts"
assert_eq "$(stat -c %i h1)" "$(stat -c %i h2)" "inode of h2"
echo changed-through-h2 >h2
assert_file_content h1 $'changed-through-h2\n'
echo more >>h1
assert_file_content h2 $'changed-through-h2\nmore\n'
chmod 604 h2
assert_eq 604 "$(stat -c %a h1)" "mode seen through the other link"
assert_fails_with EPERM link app h3 # no hard links to directories

say "rm"
rm h2
assert_not_exists h2
assert_eq 1 "$(stat -c %h h1)" "link count after rm"
assert_file_content h1 $'changed-through-h2\nmore\n'
rm h1 current dangling
assert_not_exists h1
assert_not_exists current
assert_fails_with ENOENT unlink h1

say "rmdir"
mkdir -p full/sub
assert_fails_with ENOTEMPTY rmdir full
assert_cmd_fails rmdir full
[ -d full/sub ] || fail "full/sub vanished after a failed rmdir"
rmdir full/sub
rmdir full
assert_not_exists full
assert_fails_with ENOTDIR rmdir v2
assert_fails_with EISDIR unlink app
assert_fails_with EEXIST mkdir app

say "several writes on one descriptor"
{
	printf 'a'
	printf 'b\n'
	printf 'c=%s\n' 3
	printf 'last'
} >multi
assert_file_content multi $'ab\nc=3\nlast'
printf 'XY' | dd of=multi bs=1 seek=1 conv=notrunc status=none
assert_file_content multi $'aXYc=3\nlast'

say "truncate"
truncate -s 3 multi
assert_file_content multi 'aXY'
truncate -s 6 multi
assert_eq 6 "$(stat -c %s multi)" "size after growing truncate"
assert_eq "61 58 59 00 00 00" "$(od -An -tx1 multi | xargs)" "bytes after growing truncate"
truncate -s 0 multi
assert_eq 0 "$(stat -c %s multi)" "size after truncate -s 0"
assert_file_content multi ''

say "timestamps: touch -d and utimens"
echo t >stamp
touch -d '2001-02-03 04:05:06.123456789 UTC' stamp
assert_eq 981173106 "$(stat -c %Y stamp)" "mtime seconds"
assert_eq "2001-02-03 04:05:06.123456789" "$(TZ=UTC stat -c %y stamp | cut -c1-29)" "mtime with ns"
python3 -c 'import os, sys; os.utime(sys.argv[1], ns=(0, 1234567890123456789))' stamp
assert_eq 1234567890 "$(stat -c %Y stamp)" "mtime after os.utime"
before=$(date +%s)
touch stamp
after=$(date +%s)
mt=$(stat -c %Y stamp)
((mt >= before - 2 && mt <= after + 2)) || fail "touch (now): mtime $mt not in [$before, $after]"
old_ct=$(stat -c %Z stamp)
((old_ct >= before - 2)) || fail "ctime $old_ct older than the last change ($before)"

say "cp of a 1 MiB file"
head -c 1048576 /dev/urandom >"$TEST_TMP/rand"
cp "$TEST_TMP/rand" rand
cmp "$TEST_TMP/rand" rand || fail "rand differs after cp"
assert_eq 1048576 "$(stat -c %s rand)" "size of rand"
cp rand rand.copy
cmp "$TEST_TMP/rand" rand.copy || fail "rand.copy differs after cp inside the mount"
rm rand.copy

say "readdir"
mkdir -p list
for n in c a b; do echo "$n" >"list/$n"; done
mkdir list/d
ln -s a list/l
assert_eq "a b c d l" "$(ls list | tr '\n' ' ' | sed 's/ $//')" "ls list"
assert_eq ". .. a b c d l" "$(ls -a list | tr '\n' ' ' | sed 's/ $//')" "ls -a list"
assert_eq "d" "$(find list -mindepth 1 -type d -printf '%f\n')" "find -type d"
assert_eq "l" "$(find list -mindepth 1 -type l -printf '%f\n')" "find -type l"
assert_eq 3 "$(stat -c %h list)" "nlink of a directory with one subdirectory"
many=$(for i in $(seq 1 300); do echo "x$i" >"list/d/x$i" && echo "x$i"; done | sort)
assert_eq "$many" "$(ls list/d | sort)" "ls of a directory with 300 entries"

say "the fixed namespace directories"
for d in gates peers leases routing config; do
	[ -d "$d" ] || fail "$d/ does not exist on a fresh node"
	assert_cmd_fails rmdir "$d"
	assert_fails_with EPERM rmdir "$d"
	assert_fails_with EPERM rename "$d" "$d.old"
	[ -d "$d" ] || fail "$d/ vanished"
done
assert_cmd_fails rm -rf routing
[ -d routing ] || fail "routing/ vanished after rm -rf"
assert_eq ".cluster app config gates leases list multi peers rand routing secret stamp v2" \
	"$(ls -A | tr '\n' ' ' | sed 's/ $//')" "ls -A of the root"

say "device nodes, FIFOs and sockets are refused with EPERM"
assert_cmd_fails mkfifo fifo
assert_fails_with EPERM mkfifo fifo
assert_fails_with EPERM mknod fifo fifo
assert_fails_with EPERM mknod chr char
assert_fails_with EPERM mknod blk block
assert_fails_with EPERM mknod sock sock
assert_cmd_fails mknod chr c 1 3
assert_not_exists fifo
assert_not_exists chr
assert_not_exists blk
assert_not_exists sock

cd /
node_stop a
