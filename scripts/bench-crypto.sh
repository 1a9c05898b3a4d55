#!/bin/bash
# The cost of encrypting node traffic (issue 14): two 3-node clusters on
# loopback run side by side, one as shipped (encrypted) and one with the
# benchmark-only switch CFS_BENCH_PLAINTEXT=1 (no tunnel: the raw TCP stream
# after the authenticated handshake, as before encryption). Rounds alternate
# between them (write p50 on a follower — its writes cross the network
# twice — and on the leader, then 8 concurrent writers on a follower); the
# medians of the rounds are printed with the relative cost, and the CPU
# time the three daemons used per write during the 8-writer runs (summed
# over all rounds: a steadier figure than throughput on a shared machine). Needs root and
# a built tree (ninja -C build). Usage: scripts/bench-crypto.sh [N] [ROUNDS]
# CFS_BENCH_PLAINTEXT exists for this comparison only: never set it anywhere
# else (docs/security.md).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
R=${2:-5}
B=build
work=$(mktemp -d /var/tmp/cfs-bench-crypto.XXXXXX)
declare -A pid=()
cleanup() {
	for k in "${!pid[@]}"; do kill "${pid[$k]}" 2>/dev/null || true; done
	for k in "${!pid[@]}"; do wait "${pid[$k]}" 2>/dev/null || true; done
	for m in "$work"/*/m*; do
		if mountpoint -q "$m" 2>/dev/null; then umount -l "$m"; fi
	done
	rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # start MODE I [flags]: MODE enc or plain
	local mode=$1 i=$2 env=()
	shift 2
	[ "$mode" = plain ] && env=(CFS_BENCH_PLAINTEXT=1)
	mkdir -p "$work/$mode"
	env "${env[@]}" "$B/clusterfsd" --mount "$work/$mode/m$i" --data "$work/$mode/d$i" "$@" \
		--log-level warn >/dev/null 2>>"$work/$mode/log$i" &
	pid[$mode$i]=$!
	"$B/clusterfsctl" --mount "$work/$mode/m$i" wait --timeout 30 >/dev/null
}
cluster() { # cluster MODE
	local a1
	a1=127.0.0.1:$(port)
	start "$1" 1 --address "$a1"
	for i in 2 3; do
		start "$1" "$i" --address "127.0.0.1:$(port)" --join "$a1" \
			--cluster-key "$work/$1/d1/cluster.key"
	done
}
leader() { # leader MODE: the index of the node that leads
	local id i
	id=$(cut -d' ' -f1 "$work/$1/m1/.cluster/leader")
	for i in 1 2 3; do
		[ "$(cat "$work/$1/m$i/.cluster/self")" = "$id" ] && echo "$i"
	done
	return 0
}
cluster enc
cluster plain
field() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" <<<"$1"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# cpu MODE: CPU time (clock ticks, user + system) the mode's three daemons
# have used so far. Less noisy than throughput on a shared machine: the
# 8-writer run is bound by CPU, so the CPU each write costs is its cost.
cpu() {
	local i t=0
	for i in 1 2 3; do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/${pid[$1$i]}/stat")))
	done
	echo "$t"
}
declare -A res=() ticks=() ops=()
for ((r = 0; r < R; r++)); do
	# Which cluster goes first alternates: the second of a pair runs on a
	# machine the first just warmed (or loaded), a bias of a few percent.
	order="enc plain"
	((r % 2 == 0)) || order="plain enc"
	for mode in $order; do
		L=$(leader "$mode")
		F=$(((L % 3) + 1))
		res[$mode.fw]+="$(field "$("$B/cfs-bench" write "$work/$mode/m$F" "$N")" p50_us) "
		res[$mode.lw]+="$(field "$("$B/cfs-bench" write "$work/$mode/m$L" "$N")" p50_us) "
		c0=$(cpu "$mode")
		res[$mode.fp]+="$(field "$("$B/cfs-bench" parallel "$work/$mode/m$F" $((N / 8)))" ops_per_s) "
		ticks[$mode]=$((${ticks[$mode]:-0} + $(cpu "$mode") - c0))
		ops[$mode]=$((${ops[$mode]:-0} + N / 8 * 8))
	done
done
printf '%-42s %12s %12s %8s\n' "3 nodes, loopback (N=$N, $R rounds, medians)" encrypted plaintext cost
row() { # row LABEL KEY HIGHER_IS_BETTER
	local e p
	e=$(tr ' ' '\n' <<<"${res[enc.$2]}" | grep . | median)
	p=$(tr ' ' '\n' <<<"${res[plain.$2]}" | grep . | median)
	printf '%-42s %12s %12s %7s%%\n' "$1" "$e" "$p" \
		"$(awk -v e="$e" -v p="$p" -v h="$3" 'BEGIN { printf "%+.1f", h ? (p / e - 1) * 100 : (e / p - 1) * 100 }')"
}
row "write p50 on a follower (us)" fw 0
row "write p50 on the leader (us)" lw 0
row "8 writers on a follower (ops/s)" fp 1
hz=$(getconf CLK_TCK)
e=$(awk -v t="${ticks[enc]}" -v n="${ops[enc]}" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')
p=$(awk -v t="${ticks[plain]}" -v n="${ops[plain]}" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')
printf '%-42s %12s %12s %7s%%\n' "  daemons' CPU per write, 8 writers (us)" "$e" "$p" \
	"$(awk -v e="$e" -v p="$p" 'BEGIN { printf "%+.1f", (e / p - 1) * 100 }')"
echo "(cost: how much slower the encrypted cluster is; noise between rounds is"
echo " of the same order on a shared machine: compare with several runs)"
