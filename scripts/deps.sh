#!/bin/sh
# Install what clusterfs needs to build, run, test and package, from
# Debian 12's own packages only. Needs root. When every package is already
# installed it does nothing (no `apt-get update`); otherwise it updates the
# package lists once and installs only what is missing.
set -eu
export DEBIAN_FRONTEND=noninteractive
PACKAGES="
	build-essential meson ninja-build pkg-config
	libfuse3-dev fuse3 libraft-dev libuv1-dev libsqlite3-dev libsystemd-dev libsodium-dev
	libinih-dev libjansson-dev
	uthash-dev libcriterion-dev
	clang libclang-rt-14-dev llvm
	inotify-tools attr python3 iproute2 procps psmisc util-linux coreutils
	scdoc debhelper dpkg-dev man-db bash-completion systemd
"
missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$status" in
	ii*) ;;
	*) missing="$missing $p" ;;
	esac
done
if [ -z "$missing" ]; then
	exit 0
fi
echo "deps.sh: installing$missing"
apt-get update -q
# shellcheck disable=SC2086 # one word per package
apt-get install -y -q --no-install-recommends $missing
