#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# clusterfsd's life cycle (DESIGN §2): flags, start-up errors (one clear line,
# non-zero exit, nothing mounted), SIGTERM/SIGINT, clusterfsctl status/wait,
# and a restart with only --data and --mount that keeps the whole tree.
source "$(dirname "$0")/lib.sh"

# How long a start-up that must fail may take before we call it a hang.
FAIL_FAST=20

# run_daemon ARGS...: clusterfsd in the foreground, bounded by FAIL_FAST
# (timeout's SIGTERM is a clean stop for a daemon that wrongly started).
# Logs go to stderr too (not under systemd): assert_one_line sets the
# daemon's info and debug lines aside.
run_daemon() { timeout -k 5 "$FAIL_FAST" "$CLUSTERFSD" "$@"; }

# assert_one_line WHAT: the last command's stderr is exactly one line
# besides the log's info and debug lines (a warning counts).
assert_one_line() {
	local n
	n=$(printf '%s\n' "$CMD_STDERR" |
		grep -Evc '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} clusterfsd (info|debug): |^$' || true)
	[ "$n" -eq 1 ] || fail "$1: expected one line on stderr, got $n: [$CMD_STDERR]"
}

assert_not_mounted() {
	if is_mounted "$1"; then
		umount -l "$1" || true
		fail "$1 is mounted after a failed start"
	fi
}

# --- flags -----------------------------------------------------------------------

say "bad usage exits 2 with a message"
assert_cmd_fails -s 2 -e "unrecognized option '--bogus'" run_daemon --bogus
assert_cmd_fails -s 2 -e "--log-level must be debug, info, warn or error" run_daemon --log-level nope
assert_cmd_fails -s 2 -e "unexpected argument 'extra'" run_daemon extra
assert_cmd_fails -s 2 -e "--commit-timeout" run_daemon --commit-timeout abc
assert_cmd_fails -s 2 -e "requires an argument" run_daemon --mount
out=$(run_daemon --version)
assert_match '^clusterfsd [0-9]+\.[0-9]+\.[0-9]+$' "$out" "clusterfsd --version"
run_daemon --help | grep -q -- '--data DIR' || fail "clusterfsd --help does not describe --data"
assert_cmd_fails -s 2 -e "unknown command 'bogus'" ctl --mount /nonexistent bogus
assert_cmd_fails -s 2 ctl

# --- start-up errors ---------------------------------------------------------------

say "port in use (another program): exit 1, one line naming the port, nothing mounted"
port=$(free_port)
python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
open(sys.argv[2], "w").close()
time.sleep(120)
' "$port" "$TEST_TMP/listener.ready" &
EXTRA_PIDS+=("$!")
wait_for test -e "$TEST_TMP/listener.ready"
assert_cmd_fails -s 1 -e "port $port is in use" \
	run_daemon --mount "$TEST_TMP/p/m" --data "$TEST_TMP/p/d" --address "127.0.0.1:$port"
assert_one_line "port in use"
assert_not_mounted "$TEST_TMP/p/m"

say "port in use (another node): exit 1, the running node is unharmed"
node_start a
A=$(node_mount a)
echo keep >"$A/keep"
assert_cmd_fails -s 1 -e "port ${NODE_ADDR[a]##*:} is in use" \
	run_daemon --mount "$TEST_TMP/b/m" --data "$TEST_TMP/b/d" --address "$(node_addr a)"
assert_one_line "port in use by a node"
assert_not_mounted "$TEST_TMP/b/m"
assert_cmd_ok ctl --mount "$A" status
assert_file_content "$A/keep" $'keep\n'

say "data dir in use by a running node: exit 1 'in use'"
assert_cmd_fails -s 1 -e "in use" \
	run_daemon --mount "$TEST_TMP/c/m" --data "$(node_data a)" --address "127.0.0.1:$(free_port)"
assert_one_line "data dir in use"
assert_not_mounted "$TEST_TMP/c/m"
assert_cmd_ok ctl --mount "$A" status
assert_file_content "$A/keep" $'keep\n'

say "mount point in use by a running node: exit 1, the running node is unharmed"
mounts_at() { grep -c " $1 " /proc/mounts || true; }
node_spawn e --mount "$A" --data "$TEST_TMP/e/d" --address "127.0.0.1:$(free_port)"
# Either it gives up (expected) or it stacks a second mount on top of a's.
stacked_or_exited() { ! pid_alive "$(node_pid e)" || [ "$(mounts_at "$A")" -gt 1 ]; }
wait_for -t "$FAIL_FAST" stacked_or_exited
if pid_alive "$(node_pid e)"; then
	check fail "a second clusterfsd with --mount $A (a live clusterfs mount) mounted over it instead of exiting 1"
	node_stop e
else
	wait_exit "$(node_pid e)" 1
	check assert_eq 1 "$EXIT_STATUS" "exit status of a clusterfsd started on a live mount point"
fi
assert_eq 1 "$(mounts_at "$A")" "mounts at $A"
assert_cmd_ok ctl --mount "$A" status
assert_file_content "$A/keep" $'keep\n'

say "unusable mount point: a regular file, or under a missing directory"
echo not-a-dir >"$TEST_TMP/file"
assert_cmd_fails -s 1 -e "not a directory" \
	run_daemon --mount "$TEST_TMP/file" --data "$TEST_TMP/f/d" --address "127.0.0.1:$(free_port)"
assert_one_line "mount point is a file"
assert_not_mounted "$TEST_TMP/file"
assert_file_content "$TEST_TMP/file" $'not-a-dir\n'
assert_cmd_fails -s 1 -e "mount point" \
	run_daemon --mount "$TEST_TMP/missing/deeper/m" --data "$TEST_TMP/g/d" --address "127.0.0.1:$(free_port)"
assert_one_line "mount point under a missing directory"

say "unusable data dir: a regular file"
assert_cmd_fails -s 1 -e "data directory" \
	run_daemon --mount "$TEST_TMP/h/m" --data "$TEST_TMP/file" --address "127.0.0.1:$(free_port)"
assert_one_line "data dir is a file"
assert_not_mounted "$TEST_TMP/h/m"

say "bad address"
assert_cmd_fails -s 1 -e "address" \
	run_daemon --mount "$TEST_TMP/i/m" --data "$TEST_TMP/i/d" --address 127.0.0.1
assert_one_line "bad address"
assert_not_mounted "$TEST_TMP/i/m"

# --- clusterfsctl -----------------------------------------------------------------

say "clusterfsctl status and wait"
out=$(ctl --mount "$A" status)
grep -Eq '^state +leader$' <<<"$out" || fail "clusterfsctl status does not say state leader: [$out]"
grep -Eq '^quorum +yes$' <<<"$out" || fail "clusterfsctl status does not say quorum yes: [$out]"
out=$(ctl --mount "$A" --json status)
python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["state"] == "leader", d
assert d["healthy"] is True, d
assert d["id"] == 1, d
' "$out" || fail "clusterfsctl --json status: [$out]"
assert_cmd_ok ctl --mount "$A" wait --timeout 5
mkdir -p "$TEST_TMP/plain"
assert_cmd_fails -s 3 -e "not mounted" ctl --mount "$TEST_TMP/plain" status
assert_cmd_fails -s 3 ctl --mount "$TEST_TMP/does-not-exist" status
t0=$(date +%s%N)
assert_cmd_fails -s 3 -e "not ready after 1 s" ctl --mount "$TEST_TMP/plain" wait --timeout 1
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
((elapsed_ms >= 900 && elapsed_ms < 4000)) || fail "wait --timeout 1 took ${elapsed_ms} ms"

# --- the tree survives a restart ------------------------------------------------------

say "populate: files, modes, owners, symlinks, hard links, xattrs, gates, times"
mkdir -p "$A/etc/app" "$A/deep/a/b/c"
echo 'port=80' >"$A/etc/app/web"
printf 'no newline' >"$A/etc/app/raw"
head -c 300000 /dev/urandom >"$A/blob"
cp "$A/blob" "$TEST_TMP/blob.orig"
chmod 600 "$A/etc/app/web"
chmod 2750 "$A/deep"
chown 65534:65534 "$A/etc/app/raw"
ln -s app/web "$A/etc/current"
ln "$A/etc/app/web" "$A/etc/web.hard"
setfattr -n user.owner -v team-a "$A/etc/app/web"
setfattr -n user.dir -v yes "$A/deep"
echo yes >"$A/gates/feature.multi-region"
echo off >"$A/gates/feature.storage.ceph"
echo 'address=10.0.0.1:7000' >"$A/peers/p1"
echo local >"$A/config/deployment.type"
touch -d '2001-02-03 04:05:06 UTC' "$A/etc/app/raw"
: >"$A/empty"
snapshot() {
	(
		cd "$1"
		find . -path ./.cluster -prune -o -printf '%p %y %m %U %G %n %s\n' | sort
		find . -path ./.cluster -prune -o -type f -printf '%p %T@\n' | grep raw
		find . -path ./.cluster -prune -o -type f -print0 | sort -z | xargs -0 sha1sum
		find . -path ./.cluster -prune -o -type l -printf '%p -> %l\n' | sort
		getfattr --absolute-names -d -m '^user\.(owner|dir)$' etc/app/web deep
		stat -c '%n %i' etc/app/web etc/web.hard
	)
}
before=$(snapshot "$A")
self=$(cat "$A/.cluster/self")
addr=$(sed -n 's/^address=//p' "$A/.cluster/status")
rev=$(revision_of "$A/etc/app/web")

say "SIGTERM unmounts and exits 0; restart with only --data and --mount keeps everything"
node_stop a TERM
node_restart a
after=$(snapshot "$A")
assert_eq "$before" "$after" "the tree after SIGTERM and restart"
cmp "$TEST_TMP/blob.orig" "$A/blob" || fail "blob differs after restart"
assert_eq "$self" "$(cat "$A/.cluster/self")" ".cluster/self after restart"
assert_eq "$addr" "$(sed -n 's/^address=//p' "$A/.cluster/status")" "address after restart"
assert_eq "$rev" "$(revision_of "$A/etc/app/web")" "revision after restart"
assert_file_content "$A/gates/feature.multi-region" $'true\n'
assert_eq team-a "$(getfattr --absolute-names --only-values -n user.owner "$A/etc/app/web")" "xattr after restart"
echo after-restart >"$A/new"
assert_file_content "$A/new" $'after-restart\n'
((rev < $(revision_of "$A/new"))) || fail "revision went backwards after restart"

say "SIGINT unmounts and exits 0, even with a file held open on the mount"
exec 7<"$A/etc/app/web"
(cd "$A/deep" && exec sleep 60) &
holder=$!
EXTRA_PIDS+=("$holder")
node_stop a INT
exec 7<&-
kill "$holder" 2>/dev/null || true
wait_exit "$holder" 5
node_restart a
after=$(snapshot "$A")
assert_eq "$before" "$(grep -v '^\./new ' <<<"$after" | grep -v ' \./new$')" "the tree after SIGINT and restart"

say "kill -9: the dead mount is detected by clusterfsctl and detached by the next start"
node_kill9 a
is_mounted "$A" || fail "expected the dead mount to stay behind after kill -9"
assert_cmd_fails -s 3 timeout 10 "$CLUSTERFSCTL" --mount "$A" status
assert_cmd_fails -s 3 timeout 10 "$CLUSTERFSCTL" --mount "$A" wait --timeout 1
node_restart a
assert_eq "$before" "$(snapshot "$A" | grep -v '^\./new ' | grep -v ' \./new$')" "the tree after kill -9 and restart"
assert_file_content "$A/new" $'after-restart\n'
[ "$(grep -c " $A " /proc/mounts)" -eq 1 ] || fail "$A is mounted more than once: $(grep " $A " /proc/mounts)"

say "kill -9 and an immediate restart: the dead mount is detached, not buried"
node_kill9 a
node_restart a
n=$(grep -c " $A " /proc/mounts)
check assert_eq 1 "$n" "entries for $A in /proc/mounts after kill -9 and an immediate restart"
assert_file_content "$A/new" $'after-restart\n'
if [ "$n" -gt 1 ]; then
	# Stop it by hand and clear the buried dead mounts, so the rest of the
	# test still runs (node_stop would fail on the leftover).
	kill -TERM "$(node_pid a)"
	wait_exit "$(node_pid a)" "$NODE_STOP_TIMEOUT"
	check assert_eq 0 "$EXIT_STATUS" "exit status after SIGTERM"
	while is_mounted "$A"; do umount -l "$A"; done
else
	node_stop a
fi

# --- corrupt data dirs -------------------------------------------------------------------

say "corrupt data dir: garbage in node.conf"
cp -a "$(node_data a)" "$TEST_TMP/bad1"
printf 'garbage\x01\x02 not a config\n' >"$TEST_TMP/bad1/node.conf"
assert_cmd_fails -s 1 -e "node.conf" run_daemon --mount "$TEST_TMP/bad1m" --data "$TEST_TMP/bad1"
assert_one_line "corrupt node.conf"
assert_not_mounted "$TEST_TMP/bad1m"

say "corrupt data dir: garbage in store.db"
cp -a "$(node_data a)" "$TEST_TMP/bad2"
dd if=/dev/urandom of="$TEST_TMP/bad2/store.db" bs=4096 count=4 conv=notrunc status=none
assert_cmd_fails -s 1 -e "store.db" run_daemon --mount "$TEST_TMP/bad2m" --data "$TEST_TMP/bad2"
assert_one_line "corrupt store.db"
assert_not_mounted "$TEST_TMP/bad2m"

say "corrupt data dir: garbage in a raft segment"
cp -a "$(node_data a)" "$TEST_TMP/bad3"
for seg in "$TEST_TMP"/bad3/raft/0*; do
	dd if=/dev/urandom of="$seg" bs=1 count=64 seek=16 conv=notrunc status=none
done
assert_cmd_fails -s 1 -e "raft" run_daemon --mount "$TEST_TMP/bad3m" --data "$TEST_TMP/bad3"
assert_one_line "corrupt raft segment"
assert_not_mounted "$TEST_TMP/bad3m"

FAIL_FAST=12
say "corrupt data dir: garbage in raft metadata (bounded: $FAIL_FAST s)"
cp -a "$(node_data a)" "$TEST_TMP/bad4"
for meta in "$TEST_TMP"/bad4/raft/metadata*; do
	echo garbage >"$meta"
done
t0=$SECONDS
check assert_cmd_fails -s 1 -e "metadata|corrupt" run_daemon --mount "$TEST_TMP/bad4m" --data "$TEST_TMP/bad4"
say "  (took $((SECONDS - t0)) s)"
assert_not_mounted "$TEST_TMP/bad4m"

say "the original data dir still works"
node_restart a
assert_eq "$before" "$(snapshot "$A" | grep -v '^\./new ' | grep -v ' \./new$')" "the tree after the corruption tests"
node_stop a
