#!/usr/bin/env bash
# Backup, restore into a new cluster, and forced recovery after a majority
# is lost for good (DESIGN §8, docs/operations.md).
source "$(dirname "$0")/lib.sh"

# A signature of a mounted tree: names, types and modes, owners, sizes,
# mtimes, symlink targets, content and user xattrs (not .cluster/).
tree_signature() {
	(
		cd "$1"
		find . -path ./.cluster -prune -o -print0 | sort -z |
			xargs -0 stat -c '%n %f %u %g %s %Y'
		find . -path ./.cluster -prune -o -type l -print0 | sort -z | xargs -0 -r readlink
		find . -path ./.cluster -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum
		find . -path ./.cluster -prune -o -type f -print0 | sort -z |
			xargs -0 -r getfattr --absolute-names -d -m '^user\.' 2>/dev/null
	) | sha256sum | cut -d' ' -f1
}

say "a tree worth backing up"
node_start a
A=$(node_mount a)
mkdir -p "$A/app/conf" "$A/routing/v1"
echo 'port=80' >"$A/app/conf/web"
chmod 640 "$A/app/conf/web"
chown 1000:1000 "$A/app/conf/web"
echo on >"$A/gates/feature.multi-region"
printf 'vshard-1 group-a\n' >"$A/routing/v1/table"
ln -s v1 "$A/routing/current"
setfattr -n user.owner -v team-a "$A/app/conf/web"
ln "$A/app/conf/web" "$A/app/conf/web.link"
head -c 200000 /dev/urandom >"$A/app/blob"
SIG_A=$(tree_signature "$A")

say "backup"
BK=$TEST_TMP/backup.db
assert_cmd_ok ctl --mount "$A" backup "$BK"
assert_eq "SQLite format 3" "$(head -c 15 "$BK")" "backup file header"
assert_cmd_fails -s 1 -e 'backup to .* failed|cannot write' ctl --mount "$A" backup /nonexistent-dir/b.db
assert_cmd_fails -s 1 -e 'not mounted|cannot read' ctl --mount "$TEST_TMP" backup "$TEST_TMP/x.db"
node_stop a

say "restore refuses what it cannot use, and changes nothing"
echo "not a backup" >"$TEST_TMP/junk"
assert_cmd_fails -s 1 -e 'not a clusterfs backup' ctl restore "$TEST_TMP/junk" --data "$TEST_TMP/junkdata"
assert_not_exists "$TEST_TMP/junkdata/store.db"
assert_not_exists "$TEST_TMP/junkdata/node.conf"
assert_cmd_fails -s 1 -e 'already holds a node' ctl restore "$BK" --data "$(node_data a)"
assert_cmd_fails -s 2 -e 'needs --data' ctl restore "$BK"

say "restore seeds a new cluster with the same tree"
PORT_B=$(free_port)
mkdir -p "$TEST_TMP/b"
assert_cmd_ok ctl restore "$BK" --data "$(node_data b)" --address "127.0.0.1:$PORT_B"
node_spawn b --mount "$(node_mount b)" --data "$(node_data b)"
node_wait_ready b
B=$(node_mount b)
assert_eq "$SIG_A" "$(tree_signature "$B")" "restored tree signature"
assert_eq "127.0.0.1:$PORT_B" "$(sed -n 's/^address=//p' "$B/.cluster/status")" "restored node's address"
SELF_B=$(cat "$B/.cluster/self")
[ "$SELF_B" -gt 1 ] || fail "the restored cluster's node id $SELF_B reuses the old cluster's ids"
echo new >"$B/app/new"
assert_file_content "$B/app/new" $'new\n'
ino_new=$(stat -c %i "$B/app/new")
[ $((ino_new >> 48)) = "$SELF_B" ] || fail "new inode $ino_new does not carry node id $SELF_B"
node_stop b
node_restart b
assert_file_content "$B/app/new" $'new\n'
assert_file_content "$B/gates/feature.multi-region" $'true\n'
node_stop b

say "a majority lost for good: the survivor is forced to be the only voter"
node_start r1
R1=$(node_mount r1)
KEY=$(node_data r1)/cluster.key
node_start r2 --join "$(node_addr r1)" --cluster-key "$KEY"
node_start r3 --join "$(node_addr r1)" --cluster-key "$KEY"
for i in $(seq 1 20); do echo "v$i" >"$(node_mount r2)/f$i"; done
ctl --mount "$R1" sync
node_kill9 r2
node_kill9 r3
say "without a majority, writes on the survivor fail and change nothing"
out=$(probe write "$R1/f1" wronly,trunc changed 2>&1 || true)
assert_match 'EROFS|ETIMEDOUT' "$out" "write without a majority"
assert_file_content "$R1/f1" $'v1\n'
node_stop r1
assert_cmd_ok "$CLUSTERFSD" --data "$(node_data r1)" --recover
node_restart r1
echo recovered >"$R1/f1"
assert_file_content "$R1/f1" $'recovered\n'
assert_file_content "$R1/f20" $'v20\n'
assert_eq 1 "$(grep -c . "$R1/.cluster/members")" "members after recovery"
say "and the cluster grows again from it"
node_start r4 --join "$(node_addr r1)" --cluster-key "$KEY"
ctl --mount "$R1" sync
wait_for -t 10 grep -qx recovered "$(node_mount r4)/f1" || fail "the new member did not catch up"
# The joiner asks to become a voter once it has caught up: a moment after
# its first files appear (a rehearsal of 8665986 failed on the race).
voters_are() { [ "$(grep -c voter "$R1/.cluster/members")" = "$1" ]; }
wait_for -t 10 voters_are 2
