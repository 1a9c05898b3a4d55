#!/usr/bin/env bash
# Issue 14 parts 3 and 4 through real mounts, on two nodes:
# - logs nobody can forge: a file name with a newline, made by an ordinary
#   user, is one escaped record in .cluster/log and in clusterfs-watch's
#   log; .cluster/log is root's alone (0400: it names files in directories
#   other users cannot list);
# - limits are limits: a path below the mount is at most 4095 bytes
#   (DESIGN §9, 4096 with its NUL as PATH_MAX counts) on every create,
#   mkdir, symlink, link and rename, on both nodes alike; metadata counts
#   against the store limit, so empty directories alone reach ENOSPC.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_watch.sh"

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"

node_start a
node_start b --join "$(node_addr a)" --cluster-key "$(node_data a)/cluster.key"
A=$(node_mount a) B=$(node_mount b)
sync_b() { ctl --mount "$B" sync; }
# nobody must reach the mounts (the test's directory is 0700).
chmod 711 "$TEST_TMP" "$TEST_TMP/a" "$TEST_TMP/b"

# --- part 3: logs nobody can forge ------------------------------------------

cat >"$TEST_TMP/watch.conf" <<'EOF'
[rule pub]
match = routing/pub/*
run = record {name}
EOF
mkdir -m 1777 "$A/routing/pub"
watch_start a "$TEST_TMP/watch.conf"

say "a name with a newline, made by nobody, is one escaped record"
FORGED='2026-12-06T10:00:00.000Z 9999 node=1 uid=0 unlink rootonly'
as_nobody bash -c 'cd "$1" && echo x > "$(printf "a\n%s" "$2")"' _ "$A/routing/pub" "$FORGED" ||
	fail "nobody could not create a file in a 1777 directory"
sync_b
for m in "$A" "$B"; do
	log=$(cat "$m/.cluster/log")
	# echo x > NAME is two changes (create, then write), one line each.
	assert_eq 2 "$(grep -c 'rootonly' <<<"$log")" "lines of $m/.cluster/log naming the file"
	assert_match "create routing/pub/a" "$(grep 'rootonly' <<<"$log" | head -n 1)"
	grep 'rootonly' <<<"$log" | while read -r line; do
		assert_match "^[-0-9T:.]*Z [0-9]+ node=[0-9]+ uid=65534 (create|write) routing/pub/a\\\\n2026-12-06T10:00:00.000Z 9999 node=1 uid=0 unlink rootonly$" "$line"
	done
	[ -z "$(grep '^2026-12-06T10:00:00.000Z 9999' <<<"$log")" ] || fail "a forged line in $m/.cluster/log"
done

say ".cluster/log is root's alone: 0400, EACCES for nobody, readable by root"
assert_eq 400 "$(stat -c %a "$A/.cluster/log")" "mode of .cluster/log"
assert_eq 0 "$(stat -c %u "$A/.cluster/log")" "owner of .cluster/log"
mkdir -m 0700 "$A/secret"
echo x >"$A/secret/hidden-name"
assert_cmd_fails -e 'Permission denied' as_nobody cat "$A/.cluster/log"
assert_cmd_fails -e 'Permission denied' as_nobody ls "$A/secret"
assert_match 'create secret/hidden-name' "$(cat "$A/.cluster/log")"

say "clusterfs-watch logs the name escaped, on one line"
wlog=$(watch_log a)
wait_for grep -q 'done in' "$wlog"
assert_eq 0 "$(grep -c '^2026-12-06T10:00:00.000Z 9999' "$wlog")" "forged lines in the watcher's log"
grep 'rootonly' "$wlog" | while read -r line; do
	assert_match 'routing/pub/a\\n2026-12-06T10:00:00.000Z 9999 node=1 uid=0 unlink rootonly' "$line"
done
assert_match 'running record a\\n2026' "$(grep 'running' "$wlog")"
watch_stop a

# --- part 4: the path limit ---------------------------------------------------

N200=$(printf 'x%.0s' $(seq 200))

say "a mkdir + chdir loop stops at the limit with ENAMETOOLONG"
mkdir "$A/deep"
# "deep" (4) + 20 x ("/" + 200) = 4024 bytes; a 21st would end at 4225.
out=$(cd "$A/deep" && python3 - "$N200" <<'EOF'
import errno, os, sys
n = 0
while True:
    try:
        os.mkdir(sys.argv[1])
    except OSError as e:
        print(n, errno.errorcode[e.errno])
        break
    os.chdir(sys.argv[1])
    n += 1
    if n > 100:
        print(n, "no limit")
        break
EOF
)
assert_eq "20 ENAMETOOLONG" "$out" "levels made, and why the loop stopped"

# Walk down on NODE's mount (relative steps: the kernel's own PATH_MAX is
# for one path string) and run a python snippet there.
at_bottom() {
	local m=$1
	shift
	(cd "$m/deep" && python3 - "$N200" "$@")
}
sync_b
for m in "$A" "$B"; do
	out=$(at_bottom "$m" <<'EOF'
import os, sys
n = 0
while os.path.isdir(sys.argv[1]):
    os.chdir(sys.argv[1])
    n += 1
print(n)
EOF
)
	assert_eq 20 "$out" "depth on $m (deep/ + 20 x 201 bytes = 4024)"
done
assert_eq 0 "$(grep -c ' ?/' "$A/.cluster/log")" "unknown paths (?) in .cluster/log"

say "at 4095 bytes every operation fits; at 4096 and 4097 each fails and changes nothing"
# The bottom is at 4024 bytes: a name of 70 ends at 4095.
out=$(at_bottom "$A" <<'EOF'
import errno, os, sys
while os.path.isdir(sys.argv[1]):
    os.chdir(sys.argv[1])
def try_(what, fn):
    try:
        fn()
        return what + ":ok"
    except OSError as e:
        return what + ":" + errno.errorcode[e.errno]
res = []
for n in (70, 71, 72):
    base = "f" * n
    res.append(try_("create%d" % n, lambda: open(base, "x").close()))
    res.append(try_("mkdir%d" % n, lambda: os.mkdir(base[:-1] + "d")))
    res.append(try_("symlink%d" % n, lambda: os.symlink("t", base[:-1] + "s")))
    res.append(try_("link%d" % n, lambda: os.link("f" * 70, base[:-1] + "l")))
res.append("entries:%d" % len(os.listdir(".")))
print(" ".join(res))
EOF
)
assert_eq "create70:ok mkdir70:ok symlink70:ok link70:ok create71:ENAMETOOLONG mkdir71:ENAMETOOLONG symlink71:ENAMETOOLONG link71:ENAMETOOLONG create72:ENAMETOOLONG mkdir72:ENAMETOOLONG symlink72:ENAMETOOLONG link72:ENAMETOOLONG entries:4" \
	"$out" "operations at 4095, 4096 and 4097 bytes"

say "mkdir -p of a too-long path fails with ENAMETOOLONG, making only what fits"
P="p"
for i in $(seq 25); do P="$P/$N200"; done
assert_cmd_fails -e 'File name too long' bash -c "cd '$A' && mkdir -p '$P'"
out=$(cd "$A/p" && python3 - "$N200" <<'EOF'
import os, sys
n = 0
while os.path.isdir(sys.argv[1]):
    os.chdir(sys.argv[1])
    n += 1
print(n, os.listdir("."))
EOF
)
assert_eq "20 []" "$out" "levels mkdir -p made (p + 20 x 201 = 4021 bytes), nothing below"

say "the rename of a deep directory where its subtree would not fit fails, changing nothing"
# p's subtree reaches 4021 bytes; under routing/ (8 more bytes) it would
# reach 4029, fine; under a 100-byte directory it would reach 4122.
mkdir "$A/$(printf 'y%.0s' $(seq 100))"
before=$(revision_of "$A/p")
assert_cmd_fails -e 'File name too long' mv "$A/p" "$A/$(printf 'y%.0s' $(seq 100))/"
assert_cmd_fails -e 'File name too long' mv -T "$A/p" "$A/$(printf 'p%.0s' $(seq 80))"
assert_eq "$before" "$(revision_of "$A/p")" "revision of p after the refused renames"
assert_exists "$A/p"
mv "$A/p" "$A/routing/p"
sync_b
out=$(cd "$B/routing/p" && python3 - "$N200" <<'EOF'
import os, sys
n = 0
while os.path.isdir(sys.argv[1]):
    os.chdir(sys.argv[1])
    n += 1
print(n)
EOF
)
assert_eq 20 "$out" "levels of routing/p on b"

say "both nodes count the same bytes against the store limit"
store_bytes_of() { awk '$1 == "clusterfs_store_bytes" { print $2 }' "$1/.cluster/metrics"; }
sync_b
ctl --mount "$A" sync
[ -n "$(store_bytes_of "$A")" ] || fail "no clusterfs_store_bytes in .cluster/metrics"
assert_eq "$(store_bytes_of "$A")" "$(store_bytes_of "$B")" "store bytes on a and b"

node_stop b
node_stop a

# --- part 4: metadata counts against the store limit -----------------------

say "empty directories alone fill the store (ENOSPC), and rmdir makes room"
node_start c
C=$(node_mount c)
node_stop c
# The store limit is part of the replicated state (meta max_bytes, the same
# on every node); a single node's is set here while it is stopped.
python3 - "$(node_data c)/store.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
used = db.execute("SELECT value FROM meta WHERE key = 'bytes'").fetchone()[0]
db.execute("UPDATE meta SET value = ? WHERE key = 'max_bytes'", (used + 50000,))
db.commit()
EOF
node_restart c
out=$(cd "$C" && python3 - <<'EOF'
import errno, os
n = 0
while n < 100000:
    try:
        os.mkdir("d%05d" % n)
    except OSError as e:
        print(n, errno.errorcode[e.errno])
        break
    n += 1
EOF
)
# 128 per inode + 64 + 6 per name = 198 bytes each: 50000 // 198 = 252.
assert_eq "252 ENOSPC" "$out" "empty directories made before the store was full"
assert_fails_with ENOSPC mkdir "$C/one-more"
assert_cmd_fails -e 'No space left' touch "$C/empty-file"
rmdir "$C/d00100"
mkdir "$C/d99999"
assert_fails_with ENOSPC mkdir "$C/d99998"
node_stop c
node_restart c
assert_fails_with ENOSPC mkdir "$C/after-restart"
rmdir "$C/d00101"
mkdir "$C/after-restart"
