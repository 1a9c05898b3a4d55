#!/bin/bash
# Single-node figures (issue 2): write (open/O_TRUNC/write/close) and read
# (open/read/close) through a clusterfs mount, next to the same loops on
# tmpfs and a 4 KiB pwrite+fsync on the data directory's disk, all measured
# in this one run, and printed as ratios. Needs root and a built tree
# (ninja -C build). Usage: scripts/bench.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
B=build
work=$(mktemp -d /var/tmp/cfs-bench.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	mountpoint -q "$work/tmpfs" && umount "$work/tmpfs"
	mountpoint -q "$work/m" && umount -l "$work/m"
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/m" "$work/tmpfs" "$work/disk"
mount -t tmpfs tmpfs "$work/tmpfs"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$B/clusterfsd" --mount "$work/m" --data "$work/d" --address "127.0.0.1:$port" \
	--log-level warn 2>"$work/log" &
pid=$!
"$B/clusterfsctl" --mount "$work/m" wait --timeout 20 >/dev/null

run() { "$B/cfs-bench" "$1" "$2" "$N"; }
cfs_w=$(run write "$work/m"); tmp_w=$(run write "$work/tmpfs")
cfs_r=$(run read "$work/m"); tmp_r=$(run read "$work/tmpfs")
fsy=$(run fsync "$work/disk")
field() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" <<<"$1"; }

printf '%-34s %10s %10s %12s\n' "loop (N=$N)" p50_us p99_us ops_per_s
for row in "clusterfs write|$cfs_w" "tmpfs write|$tmp_w" "clusterfs read|$cfs_r" \
	"tmpfs read|$tmp_r" "disk pwrite 4KiB+fsync|$fsy"; do
	name=${row%%|*}; line=${row#*|}
	printf '%-34s %10s %10s %12s\n' "$name" "$(field "$line" p50_us)" \
		"$(field "$line" p99_us)" "$(field "$line" ops_per_s)"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "clusterfs write p50 / fsync p50:  $(ratio "$(field "$cfs_w" p50_us)" "$(field "$fsy" p50_us)")"
echo "clusterfs write p50 / tmpfs p50:  $(ratio "$(field "$cfs_w" p50_us)" "$(field "$tmp_w" p50_us)")"
echo "clusterfs read ops/s / tmpfs:     $(ratio "$(field "$cfs_r" ops_per_s)" "$(field "$tmp_r" ops_per_s)")"
