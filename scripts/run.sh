#!/bin/sh
# Fresh Debian 12 machine → a running single-node clusterfs at
# /var/lib/clusterfs: install dependencies, build, install, start clusterfsd
# in the foreground (Ctrl-C unmounts and stops it). Needs root.
# Installs under /usr/local with the config file in /etc/clusterfs (the
# daemon's default); an existing /etc/clusterfs/clusterfsd.conf is kept.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
[ -d build ] || meson setup build --prefix=/usr/local --sysconfdir=/etc
ninja -C build
meson install -C build --quiet --tags runtime,man
conf=$(meson introspect build --buildoptions |
	python3 -c 'import json,sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}["sysconfdir"])')
case $conf in /*) ;; *) conf=/usr/local/$conf ;; esac
[ -e "$conf/clusterfs/clusterfsd.conf" ] ||
	install -D -m 0644 etc/clusterfsd.conf "$conf/clusterfs/clusterfsd.conf"
exec /usr/local/sbin/clusterfsd "$@"
