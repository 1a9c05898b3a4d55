#!/bin/bash
# The Debian package, used as an operator would (docs/testing.md, "The
# package test"): build it from a temporary copy of the tree with
# `dpkg-buildpackage -us -uc -b`, check what it holds, install it, find
# every man page with `man -w`, run `systemd-analyze verify` on the
# installed units, write /etc/clusterfs/clusterfsd.conf (a temporary mount
# and data directory, a free port on 127.0.0.1: never the defaults, the
# machine may run a node of its own), run the unit's ExecStart command as
# systemd would, wait until it is mounted and `clusterfsctl status`
# succeeds, write and read files, check the installed bash completion,
# stop the node by its PID, purge the package and check that nothing of
# it is left.
#
# Needs root. Refuses to run (exit 1, nothing changed) when a clusterfs
# package is installed or was removed with its config kept, or when
# /etc/clusterfs or one of the package's programs already exists: the
# purge at the end would delete or leave them. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
export DEBIAN_FRONTEND=noninteractive

BUILD_TIMEOUT=${PACKAGE_BUILD_TIMEOUT:-1200} # seconds for dpkg-buildpackage
READY_TIMEOUT=60                             # seconds for the node to mount and commit
STOP_TIMEOUT=30                              # seconds for the node to exit after SIGTERM
PROGRAMS="/usr/sbin/clusterfsd /usr/bin/clusterfsctl /usr/bin/clusterfs-watch"
PAGES="8:clusterfsd 8:clusterfsctl 8:clusterfs-watch 5:clusterfs 5:clusterfs-watch.conf"
CONF=/etc/clusterfs/clusterfsd.conf

say() { echo "test-package: $*"; }
fail()
{
	echo "test-package: FAIL: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || fail "needs root (it installs and purges the package)"

# --- refuse to touch an operator's clusterfs ---------------------------------
status=$(dpkg-query -W -f '${Status}' clusterfs 2>/dev/null || true)
case "$status" in
"" | *not-installed) ;;
*)
	echo "test-package: a clusterfs package is on this machine ($status);" \
		"this test installs and purges its own: remove it first (apt-get purge clusterfs)" >&2
	exit 1
	;;
esac
for f in /etc/clusterfs $PROGRAMS; do
	if [ -e "$f" ]; then
		echo "test-package: $f exists and belongs to no package; this test would" \
			"overwrite or delete it: move it away first" >&2
		exit 1
	fi
done

tmp=$(mktemp -d /tmp/cfs-package.XXXXXX)
installed=0
node_pid=""
mnt="$tmp/mnt"

cleanup()
{
	local rc=$? i
	if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
		kill -TERM "$node_pid" 2>/dev/null || true
		for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
			kill -0 "$node_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$node_pid" 2>/dev/null || true
	fi
	if mountpoint -q "$mnt" 2>/dev/null; then
		fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	fi
	if [ "$installed" = 1 ]; then
		dpkg --purge clusterfs >/dev/null 2>&1 || true
	fi
	if [ "$rc" != 0 ] && [ -s "$tmp/node.log" ]; then
		echo "--- the node's log:" >&2
		tail -n 30 "$tmp/node.log" >&2
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ---------------------------------------------------------------------
# The tree as git sees it (tracked and new files, not the build directories).
mkdir "$tmp/src"
if [ -d .git ] || [ -f .git ]; then
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
		done | tar --null -T - -cf - | tar -x -C "$tmp/src"
else
	tar --exclude='./build*' --exclude='./obj-*' -cf - . | tar -x -C "$tmp/src"
fi
say "building the package in $tmp/src (dpkg-buildpackage -us -uc -b; log in build.log)"
start=$(date +%s)
if ! (cd "$tmp/src" && timeout "$BUILD_TIMEOUT" dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
	tail -n 40 "$tmp/build.log" >&2
	fail "dpkg-buildpackage failed (or took over $BUILD_TIMEOUT s)"
fi
say "built in $(($(date +%s) - start)) s"
debs=("$tmp"/clusterfs_*.deb)
[ "${#debs[@]}" = 1 ] && [ -f "${debs[0]}" ] || fail "expected one clusterfs_*.deb, found: ${debs[*]}"
deb=${debs[0]}
grep -q '^Ok: *[1-9]' "$tmp/build.log" || fail "the build ran no unit test (dh_auto_test)"

# --- what the package holds ----------------------------------------------------
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/contents"
for f in $PROGRAMS /usr/share/bash-completion/completions/clusterfsctl \
	/usr/share/doc/clusterfs/examples/snap/watch.conf; do
	grep -qx "$f" "$tmp/contents" || fail "the package lacks $f"
done
for p in $PAGES; do
	grep -qx "/usr/share/man/man${p%%:*}/${p#*:}.${p%%:*}.gz" "$tmp/contents" ||
		fail "the package lacks the man page ${p#*:}(${p%%:*})"
done
if grep -E '^/var|cfs-bench|/unit_|fuzz|/tests?/' "$tmp/contents"; then
	fail "the package holds files it should not (above)"
fi
dpkg-deb -I "$deb" conffiles 2>/dev/null | grep -qx "$CONF" ||
	fail "$CONF is not a conffile of the package"
units=$(grep -E '^/(usr/)?lib/systemd/system/[^/]+\.service$' "$tmp/contents" || true)
[ -n "$units" ] || fail "the package has no systemd units"

# --- install -------------------------------------------------------------------
var_before=$(ls -d /var/lib/clusterfs* 2>/dev/null || true)
installed=1
apt-get install -y -q --no-install-recommends "$deb" >"$tmp/install.log" 2>&1 ||
	{
		cat "$tmp/install.log" >&2
		fail "apt-get install $deb failed"
	}
say "installed $(dpkg-query -W -f '${Package} ${Version}' clusterfs)"
for f in $PROGRAMS; do
	[ -x "$f" ] || fail "$f is not installed"
done
"/usr/sbin/clusterfsd" --version | grep -q '^clusterfsd ' || fail "clusterfsd --version"
[ "$(ls -d /var/lib/clusterfs* 2>/dev/null || true)" = "$var_before" ] ||
	fail "installing created something in /var/lib"
for p in $PAGES; do
	man -w "${p%%:*}" "${p#*:}" >/dev/null || fail "man -w ${p%%:*} ${p#*:} finds nothing"
done
say "man -w finds all five pages"

# --- units -------------------------------------------------------------------------
for u in $units; do
	[ -f "$u" ] || fail "$u is not installed"
	systemd-analyze verify "$u" >"$tmp/verify.log" 2>&1 ||
		{
			cat "$tmp/verify.log" >&2
			fail "systemd-analyze verify $u"
		}
	# Installed disabled: nothing links to it from a .wants directory.
	if find /etc/systemd/system -name "${u##*/}" 2>/dev/null | grep -q .; then
		fail "${u##*/} is enabled after install"
	fi
done
say "systemd-analyze verify passes on: $(echo "$units" | xargs -n1 basename | xargs)"

# --- a node, started as the unit starts it -----------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$mnt"
unit=$(echo "$units" | grep '/clusterfsd\.service$' || true)
[ -n "$unit" ] || fail "the package has no clusterfsd.service"
line=$(grep -E '^ExecStart=' "$unit" | tail -n 1)
line=${line#ExecStart=}
line=${line#[-@+!:]}
case "$line" in *'$'* | *'%'*) fail "cannot run ExecStart here: it uses variables ($line)" ;; esac
read -r -a cmd <<<"$line"
[ "${cmd[0]}" = /usr/sbin/clusterfsd ] || fail "clusterfsd.service runs ${cmd[0]}, not /usr/sbin/clusterfsd"
mkdir -p /etc/clusterfs
cat >"$CONF" <<EOF
; written by scripts/test-package.sh
[clusterfsd]
mount = $mnt
data = $tmp/data
address = 127.0.0.1:$port
EOF
say "running the unit's command: ${cmd[*]} (with $CONF: $mnt, 127.0.0.1:$port)"
"${cmd[@]}" >"$tmp/node.log" 2>&1 </dev/null &
node_pid=$!
ready=0
for ((i = 0; i < READY_TIMEOUT * 5; i++)); do
	kill -0 "$node_pid" 2>/dev/null || fail "clusterfsd (pid $node_pid) exited before it was ready"
	if mountpoint -q "$mnt" && timeout 10 clusterfsctl --mount "$mnt" status >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.2
done
[ "$ready" = 1 ] || fail "clusterfsd not mounted at $mnt with a leader within $READY_TIMEOUT s"
say "mounted at $mnt; clusterfsctl status succeeds"
[ -s "$tmp/node.log" ] || fail "clusterfsd wrote no log line to its stderr"

echo 'port=80' >"$mnt/pkg-test" || fail "write through the mount"
[ "$(cat "$mnt/pkg-test")" = 'port=80' ] || fail "read back what was written"
echo yes >"$mnt/gates/feature.pkg-test" || fail "write a gate"
[ "$(cat "$mnt/gates/feature.pkg-test")" = true ] || fail "the gate reads back as true"
if echo maybe >"$mnt/gates/feature.pkg-test" 2>/dev/null; then fail "an invalid gate value was accepted"; fi
[ "$(cat "$mnt/gates/feature.pkg-test")" = true ] || fail "a refused write changed the gate"
say "wrote and read a file and a gate through the mount"

# The installed completion, loaded by bash-completion as a shell would.
got=$(bash -c 'source /usr/share/bash-completion/bash_completion
	__load_completion clusterfsctl || exit 1
	COMP_WORDS=(clusterfsctl --mount "$1" remove ""); COMP_CWORD=4
	_clusterfsctl; echo "${COMPREPLY[*]}"' bash "$mnt") || fail "bash-completion cannot load clusterfsctl's completion"
self=$(cat "$mnt/.cluster/self")
[ "$got" = "$self" ] || fail "completion of 'clusterfsctl remove' gave '$got', expected this node's id $self"
say "bash completion offers node id $self for 'clusterfsctl remove'"

kill -TERM "$node_pid"
code=""
for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
	if ! kill -0 "$node_pid" 2>/dev/null; then
		code=0
		wait "$node_pid" || code=$?
		break
	fi
	sleep 0.1
done
[ -n "$code" ] || fail "clusterfsd still runs $STOP_TIMEOUT s after SIGTERM"
node_pid=""
[ "$code" = 0 ] || fail "clusterfsd exited $code after SIGTERM"
if mountpoint -q "$mnt"; then fail "$mnt is still mounted after the node stopped"; fi
say "stopped by SIGTERM: exit 0, unmounted"

# --- purge -----------------------------------------------------------------------------
apt-get purge -y -q clusterfs >"$tmp/purge.log" 2>&1 || {
	cat "$tmp/purge.log" >&2
	fail "apt-get purge clusterfs failed"
}
installed=0
for f in $PROGRAMS /usr/share/bash-completion/completions/clusterfsctl /etc/clusterfs \
	/usr/share/doc/clusterfs $units; do
	[ ! -e "$f" ] || fail "$f is still there after the purge"
done
for p in $PAGES; do
	if man -w "${p%%:*}" "${p#*:}" >/dev/null 2>&1; then fail "man -w still finds ${p#*:}(${p%%:*})"; fi
done
[ "$(ls -d /var/lib/clusterfs* 2>/dev/null || true)" = "$var_before" ] ||
	fail "the package left something in /var/lib"
say "purged: programs, man pages, units, /etc/clusterfs gone"
echo "package test passed"
