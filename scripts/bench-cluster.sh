#!/bin/bash
# Three-node figures (issue 3): write latency on the leader and on a follower,
# throughput with 8 concurrent writers, and failover (kill -9 of the leader
# -> first successful write on a survivor), next to a 4 KiB fsync and a
# loopback TCP round trip measured in the same run. Needs root and a built
# tree (ninja -C build). Usage: scripts/bench-cluster.sh [N] [FAILOVERS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
K=${2:-5}
B=build
work=$(mktemp -d /var/tmp/cfs-bench3.XXXXXX)
declare -A pid=() addr=()
cleanup() {
	for i in "${!pid[@]}"; do kill "${pid[$i]}" 2>/dev/null || true; done
	for i in "${!pid[@]}"; do wait "${pid[$i]}" 2>/dev/null || true; done
	for i in 1 2 3; do
		if mountpoint -q "$work/m$i" 2>/dev/null; then umount -l "$work/m$i"; fi
	done
	rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # start I [flags]
	local i=$1
	shift
	"$B/clusterfsd" --mount "$work/m$i" --data "$work/d$i" "$@" --log-level warn \
		>/dev/null 2>>"$work/log$i" &
	pid[$i]=$!
	"$B/clusterfsctl" --mount "$work/m$i" wait --timeout 30 >/dev/null
}
for i in 1 2 3; do addr[$i]=127.0.0.1:$(port); done
start 1 --address "${addr[1]}"
start 2 --address "${addr[2]}" --join "${addr[1]}" --cluster-key "$work/d1/cluster.key"
start 3 --address "${addr[3]}" --join "${addr[1]}" --cluster-key "$work/d1/cluster.key"
leader() { # the index of the node that leads
	local id
	id=$(cut -d' ' -f1 "$work/m$1/.cluster/leader")
	for i in 1 2 3; do
		if [ "$(cat "$work/m$i/.cluster/self" 2>/dev/null)" = "$id" ]; then
			echo "$i"
		fi
	done
}
L=$(leader 1)
F=$(((L % 3) + 1))
mkdir -p "$work/disk"
field() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" <<<"$1"; }

lw=$("$B/cfs-bench" write "$work/m$L" "$N")
fw=$("$B/cfs-bench" write "$work/m$F" "$N")
lp=$("$B/cfs-bench" parallel "$work/m$L" $((N / 8)))
fp=$("$B/cfs-bench" parallel "$work/m$F" $((N / 8)))
fsy=$("$B/cfs-bench" fsync "$work/disk" "$N")
rtt=$("$B/cfs-bench" rtt - "$N")

times=()
for ((k = 0; k < K; k++)); do
	L=$(leader "$F")
	S=$(((L % 3) + 1))
	kill -9 "${pid[$L]}"
	wait "${pid[$L]}" 2>/dev/null || true
	t=$("$B/cfs-bench" first-write "$work/m$S" 20000)
	times+=("$(field "$t" ms)")
	start "$L" # restart with --data/--mount only; it catches up
	F=$S
done

printf '%-40s %10s %10s %10s\n' "3 nodes on loopback (N=$N)" p50_us p99_us ops_per_s
for row in "write on the leader|$lw" "write on a follower|$fw" "disk pwrite 4KiB+fsync|$fsy" \
	"loopback TCP round trip|$rtt"; do
	printf '%-40s %10s %10s %10s\n' "${row%%|*}" "$(field "${row#*|}" p50_us)" \
		"$(field "${row#*|}" p99_us)" "$(field "${row#*|}" ops_per_s)"
done
printf '%-40s %32s\n' "8 writers on the leader" "$(field "$lp" ops_per_s) ops/s"
printf '%-40s %32s\n' "8 writers on a follower" "$(field "$fp" ops_per_s) ops/s"
sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
printf '%-40s %32s\n' "failover: kill -9 leader -> first write" "ms: $sorted"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "leader write p50 / fsync p50:         $(ratio "$(field "$lw" p50_us)" "$(field "$fsy" p50_us)")"
echo "follower write p50 / leader write p50: $(ratio "$(field "$fw" p50_us)" "$(field "$lw" p50_us)")"
echo "follower write p50 / loopback RTT p50: $(ratio "$(field "$fw" p50_us)" "$(field "$rtt" p50_us)")"
