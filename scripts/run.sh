#!/bin/sh
# Fresh Debian 12 machine → a running single-node clusterfs at
# /var/lib/clusterfs: install dependencies, build, install, start clusterfsd
# in the foreground (Ctrl-C unmounts and stops it). Needs root.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
[ -d build ] || meson setup build --prefix=/usr/local
ninja -C build
meson install -C build --quiet
exec /usr/local/sbin/clusterfsd "$@"
