#!/bin/sh
# Install what clusterfs needs to build, run and test, from Debian 12's own
# packages only. Idempotent; needs root.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	build-essential meson ninja-build pkg-config \
	libfuse3-dev fuse3 libraft-dev libuv1-dev libsqlite3-dev libsystemd-dev libsodium-dev \
	libinih-dev libjansson-dev \
	uthash-dev libcriterion-dev \
	clang libclang-rt-14-dev llvm \
	inotify-tools attr python3 iproute2 procps psmisc util-linux coreutils
