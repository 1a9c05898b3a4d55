#!/bin/bash
# clusterfs against etcd and ZooKeeper (issue 15): one run starts a 3-node
# clusterfs, a 3-member etcd (Debian's etcd-server) and a 3-server ZooKeeper
# ensemble (Debian's zookeeper), all on 127.0.0.1 with free ports of their
# own and data in one temporary directory on the same disk, each with its
# default durability (fsync'd logs), and measures with the same loop shapes:
#
#   write p50/p99 on the leader and on a follower: open/O_TRUNC/write/close of
#     a small file through the mount; an etcd put (the v3 gRPC gateway's JSON,
#     POST /v3/kv/put on one kept-alive connection); a ZooKeeper setData
#     (python3-kazoo); one op at a time, the three systems in interleaved
#     batches so that machine noise falls on all of them;
#   8 concurrent writers on the leader (8 processes, a file/key/znode each):
#     total ops/s;
#   propagation: write start on the leader -> the event read on a follower
#     (an inotify reader on that node's mount; an etcd watch on that member;
#     a ZooKeeper watch through a client connected to that server), p50/p99;
#   cached open+read+close of a small file on clusterfs and on a tmpfs;
#   the floors: 4 KiB pwrite+fsync on the data disk, a loopback TCP round trip;
#   a reference that no goal uses: the same writes on a one-node clusterfs
#     (no follower to wait for, no follower sharing the CPUs), interleaved
#     with the others;
#   where a clusterfs write's time goes: the mean of each stage of
#     clusterfs_write_stage_seconds (.cluster/metrics) on the leader and the
#     follower over the write series, next to the client's mean.
#
# and prints each figure next to its goal from issue 15 as a ratio, "met" or
# "short". The measuring program is scripts/bench_peers.py (Debian's python3).
#
# A benchmark run by hand, not a test. Needs root and a built tree (ninja -C
# build). Installs etcd-server, etcd-client, zookeeper and python3-kazoo with
# apt-get only if missing (dpkg-query first, as scripts/deps.sh). Installing
# them may start the packages' own services on their default ports: this
# script never touches those; it runs its own instances only, stops them by
# PID, and removes only its own temporary directory. A peer that cannot be
# installed or started is skipped with the reason, and its columns print "-".
#
# Usage: scripts/bench-peers.sh [N] [W] [R]
#   N  ops per latency loop (each write series and each propagation series), default 2000
#   W  ops per 8-writer run (total over the 8 writers), default 4000
#   R  open+read+close loops, on clusterfs and on tmpfs each, default 20000
# Environment: BENCH_NO_ETCD=1, BENCH_NO_ZK=1 skip a peer; CFS_FLAGS adds
# clusterfsd options; START_TIMEOUT (s, default 60) bounds each start.
# shellcheck disable=SC2317 # functions called only from the trap or wait_until
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's python3 (it has python3-kazoo), not a version manager's shim.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
N=${1:-2000}
W=${2:-4000}
R=${3:-20000}
START_TIMEOUT=${START_TIMEOUT:-60}
STOP_TIMEOUT=20 # seconds a daemon gets after SIGTERM before SIGKILL
B=build
for v in "$N" "$W" "$R"; do
	if ! [[ "$v" =~ ^[0-9]+$ ]] || [ "$v" -lt 100 ]; then
		echo "usage: $0 [N] [W] [R] (each a number >= 100)" >&2
		exit 2
	fi
done
if ! [ -x "$B/clusterfsd" ] || ! [ -x "$B/cfs-bench" ]; then
	echo "build first: meson setup build && ninja -C build" >&2
	exit 1
fi
[ "$(id -u)" -eq 0 ] || {
	echo "needs root (FUSE and tmpfs mounts)" >&2
	exit 1
}

say() { printf 'bench-peers: %s\n' "$*" >&2; }

# --- packages: install only what is missing ----------------------------------------------
missing() { # the packages among "$@" that dpkg does not have installed
	local p status
	for p in "$@"; do
		status=$(dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null || true)
		case "$status" in ii*) ;; *) printf '%s ' "$p" ;; esac
	done
}
install_missing() { # install_missing PKG...: 0 when all are installed afterwards
	local need
	need=$(missing "$@")
	[ -z "$need" ] && return 0
	say "installing $need(apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086 # one word per package
	if ! apt-get install -y -q --no-install-recommends $need >/dev/null 2>&1; then
		apt-get update -q >/dev/null 2>&1 || true
		# shellcheck disable=SC2086
		apt-get install -y -q --no-install-recommends $need >/dev/null 2>&1 || true
	fi
	[ -z "$(missing "$@")" ]
}
etcd_why=""
zk_why=""
if [ "${BENCH_NO_ETCD:-0}" = 1 ]; then
	etcd_why="BENCH_NO_ETCD=1"
elif ! install_missing etcd-server etcd-client; then
	etcd_why="etcd-server/etcd-client could not be installed with apt-get"
fi
if [ "${BENCH_NO_ZK:-0}" = 1 ]; then
	zk_why="BENCH_NO_ZK=1"
elif ! install_missing zookeeper python3-kazoo; then
	zk_why="zookeeper/python3-kazoo could not be installed with apt-get"
fi

# --- our own processes, mounts and directory; the trap undoes them all -------------------
work=$(mktemp -d /var/tmp/cfs-bench-peers.XXXXXX)
declare -a pids=()   # every daemon this script started
meter=""             # the measuring program, while it runs
declare -A pidname=() # PID -> what it is, for messages
alive() { kill -0 "$1" 2>/dev/null; }
stop_pid() { # stop_pid PID: SIGTERM, at most STOP_TIMEOUT s, then SIGKILL; reaped
	local p=$1 t
	alive "$p" || {
		wait "$p" 2>/dev/null || true
		return 0
	}
	kill "$p" 2>/dev/null || true
	for ((t = 0; t < STOP_TIMEOUT * 10; t++)); do
		alive "$p" || break
		sleep 0.1
	done
	if alive "$p"; then
		say "${pidname[$p]:-pid $p} still running ${STOP_TIMEOUT} s after SIGTERM: SIGKILL"
		kill -9 "$p" 2>/dev/null || true
	fi
	wait "$p" 2>/dev/null || true
}
cleanup() {
	local rc=$? p i
	set +e
	trap - EXIT INT TERM
	[ -n "$meter" ] && stop_pid "$meter"
	for p in "${pids[@]}"; do stop_pid "$p"; done
	for i in 0 1 2 3; do
		if mountpoint -q "$work/m$i" 2>/dev/null; then umount -l "$work/m$i"; fi
	done
	if mountpoint -q "$work/tmpfs" 2>/dev/null; then umount "$work/tmpfs"; fi
	# a failure (not an interruption) shows the end of each daemon's log
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ] && [ "$rc" -ne 143 ]; then
		for f in "$work"/*.log; do
			[ -s "$f" ] || continue
			say "last lines of $(basename "$f"):"
			tail -n 5 "$f" >&2
		done
	fi
	rm -rf --one-file-system "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Ports are taken from the kernel one by one and released before the daemons
# bind them; ask for all of them first, so no two of ours can coincide.
declare -A taken=()
free_port() {
	local p
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		p=$(port)
		if [ -z "${taken[$p]:-}" ]; then
			taken[$p]=1
			echo "$p"
			return 0
		fi
	done
	say "no free port on 127.0.0.1 after 10 tries"
	return 1
}
declare -a watched=() # daemons whose exit ends a wait_until at once
wait_until() { # wait_until SECONDS WHAT CMD...: poll every 0.1 s; fail naming WHAT
	local secs=$1 what=$2 t p
	shift 2
	for ((t = 0; t < secs * 10; t++)); do
		"$@" >/dev/null 2>&1 && return 0
		for p in "${watched[@]}"; do
			if ! alive "$p"; then
				say "${pidname[$p]} exited while waiting for $what"
				return 1
			fi
		done
		sleep 0.1
	done
	say "gave up after $secs s waiting for $what"
	return 1
}

# --- clusterfs: 3 nodes; node 1 bootstraps and leads ------------------------------------
start_cfs() { # start_cfs I WHAT ADDRESS [clusterfsd ARGS...]: mount m$I, data d$I; waits until ready
	local i=$1 what=$2 addr=$3
	shift 3
	# shellcheck disable=SC2086 # CFS_FLAGS: words
	"$B/clusterfsd" --mount "$work/m$i" --data "$work/d$i" --address "$addr" "$@" \
		--log-level warn ${CFS_FLAGS:-} >/dev/null 2>>"$work/clusterfs$i.log" &
	pids+=($!)
	pidname[$!]=$what
	"$B/clusterfsctl" --mount "$work/m$i" wait --timeout "$START_TIMEOUT" >/dev/null || {
		say "$what was not ready within $START_TIMEOUT s"
		exit 1
	}
}
declare -a caddr=()
for i in 1 2 3; do caddr[i]=127.0.0.1:$(free_port); done
for i in 1 2 3; do
	join=()
	[ "$i" = 1 ] || join=(--join "${caddr[1]}" --cluster-key "$work/d1/cluster.key")
	start_cfs "$i" "clusterfs node $i" "${caddr[i]}" "${join[@]}"
done
cfs_index() { # the index (1-3) of the clusterfs node whose id is $1
	local i
	for i in 1 2 3; do
		[ "$(cat "$work/m$i/.cluster/self")" = "$1" ] && echo "$i"
	done
	return 0
}
cfs_leader_known() { [ -n "$(cut -d' ' -f1 "$work/m1/.cluster/leader" 2>/dev/null)" ]; }
wait_until "$START_TIMEOUT" "a clusterfs leader seen by node 1" cfs_leader_known
cL=$(cfs_index "$(cut -d' ' -f1 "$work/m1/.cluster/leader")")
[ -n "$cL" ] || {
	say "the clusterfs leader is none of our 3 nodes"
	exit 1
}
# and one more on its own, node 0: the one-node reference
start_cfs 0 "the one-node clusterfs" "127.0.0.1:$(free_port)"
cF=$(((cL % 3) + 1))      # the follower that writes
cX=$(((cF % 3) + 1))      # the other follower, which watches
cfs_arg="$work/m$cL,$work/m$cF,$work/m$cX"

# --- etcd: 3 members ---------------------------------------------------------------------
etcd_arg="-"
etcd_version="-"
if [ -z "$etcd_why" ]; then
	etcd_version=$(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p')
	declare -a ecport=() epport=()
	cluster=""
	for i in 1 2 3; do
		ecport[i]=$(free_port)
		epport[i]=$(free_port)
		cluster+="${cluster:+,}e$i=http://127.0.0.1:${epport[i]}"
	done
	for i in 1 2 3; do
		etcd --name "e$i" --data-dir "$work/etcd$i" \
			--listen-client-urls "http://127.0.0.1:${ecport[i]}" \
			--advertise-client-urls "http://127.0.0.1:${ecport[i]}" \
			--listen-peer-urls "http://127.0.0.1:${epport[i]}" \
			--initial-advertise-peer-urls "http://127.0.0.1:${epport[i]}" \
			--initial-cluster "$cluster" --initial-cluster-state new \
			--initial-cluster-token "cfs-bench-peers-$$" \
			--logger zap --log-level warn >/dev/null 2>>"$work/etcd$i.log" &
		pids+=($!)
		pidname[$!]="etcd member $i"
	done
	watched=("${pids[@]: -3}")
	eps="http://127.0.0.1:${ecport[1]},http://127.0.0.1:${ecport[2]},http://127.0.0.1:${ecport[3]}"
	if wait_until "$START_TIMEOUT" "3 healthy etcd members (etcdctl endpoint health)" \
		env ETCDCTL_API=3 etcdctl --endpoints="$eps" endpoint health; then
		# client ports of the leader and of the two followers, leader first
		etcd_arg=$(ETCDCTL_API=3 etcdctl --endpoints="$eps" endpoint status -w json | python3 -c '
import json, sys
st = json.load(sys.stdin)
leader = st[0]["Status"]["leader"]
port = lambda s: s["Endpoint"].rsplit(":", 1)[1]
lead = [port(s) for s in st if s["Status"]["header"]["member_id"] == leader]
rest = [port(s) for s in st if s["Status"]["header"]["member_id"] != leader]
print(",".join(lead + rest) if len(lead) == 1 and len(rest) == 2 else "-")')
		[ "$etcd_arg" != "-" ] || etcd_why="no single etcd leader among the 3 members"
	else
		etcd_why="the 3 etcd members were not healthy (waited at most $START_TIMEOUT s) ($work/etcd1.log: $(tail -n 1 "$work/etcd1.log" | cut -c1-200))"
	fi
fi

# --- ZooKeeper: 3 servers ----------------------------------------------------------------
zk_arg="-"
zk_version="-"
zk_srvr() { # zk_srvr PORT: the answer to the "srvr" four-letter word
	python3 - "$1" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
s.sendall(b"srvr")
out = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    out += b
print(out.decode())
EOF
}
zk_mode() { zk_srvr "$1" 2>/dev/null | sed -n 's/^Mode: //p'; }
zk_serving() { # all three servers answer with a role, one of them leading
	local i modes=""
	for i in 1 2 3; do modes+="$(zk_mode "${zcport[i]}") "; done
	[[ "$modes" =~ leader ]] && [ "$(grep -Eo 'leader|follower' <<<"$modes" | wc -l)" = 3 ]
}
if [ -z "$zk_why" ]; then
	zk_version=$(dpkg-query -W -f '${Version}' zookeeper | sed 's/-.*//')
	declare -a zcport=() zqport=() zeport=()
	servers=""
	for i in 1 2 3; do
		zcport[i]=$(free_port)
		zqport[i]=$(free_port)
		zeport[i]=$(free_port)
		servers+="server.$i=127.0.0.1:${zqport[i]}:${zeport[i]}"$'\n'
	done
	for i in 1 2 3; do
		mkdir -p "$work/zk$i/data"
		echo "$i" >"$work/zk$i/data/myid"
		# Defaults as shipped (forceSync: every transaction fsync'd), less
		# the admin web server (port 8080) and with "srvr" allowed, to find
		# the leader.
		cat >"$work/zk$i/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$work/zk$i/data
clientPort=${zcport[i]}
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr
$servers
EOF
		java -Xms256m -Xmx512m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
			-Dzookeeper.log.dir="$work/zk$i" \
			-cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
			org.apache.zookeeper.server.quorum.QuorumPeerMain "$work/zk$i/zoo.cfg" \
			>/dev/null 2>>"$work/zk$i.log" </dev/null &
		pids+=($!)
		pidname[$!]="ZooKeeper server $i"
	done
	watched=("${pids[@]: -3}")
	if wait_until "$START_TIMEOUT" "3 ZooKeeper servers serving, one leading (srvr)" zk_serving; then
		lead=() rest=()
		for i in 1 2 3; do
			if [ "$(zk_mode "${zcport[i]}")" = leader ]; then
				lead+=("${zcport[i]}")
			else
				rest+=("${zcport[i]}")
			fi
		done
		zk_arg="${lead[0]},${rest[0]},${rest[1]}"
	else
		zk_why="the 3 ZooKeeper servers did not elect a leader (waited at most $START_TIMEOUT s) ($work/zk1.log: $(tail -n 1 "$work/zk1.log" | cut -c1-200))"
	fi
fi

watched=()

# --- tmpfs and the data disk, for the read ratio and the floors -------------------------
mkdir -p "$work/tmpfs" "$work/disk"
mount -t tmpfs -o size=64m cfs-bench-peers "$work/tmpfs"

# In the background, so that a signal reaches the trap at once (bash runs a
# trap only after its foreground command ends); the trap stops it first.
python3 scripts/bench_peers.py --n "$N" --writers-ops "$W" --reads "$R" \
	--cfs-bench "$B/cfs-bench" --disk "$work/disk" --tmpfs "$work/tmpfs" \
	--cfs "$cfs_arg" --cfs-nodes "$cL,$cF,$cX" --cfs-single "$work/m0" \
	--etcd "$etcd_arg" --etcd-version "$etcd_version" --etcd-why "$etcd_why" \
	--zk "$zk_arg" --zk-version "$zk_version" --zk-why "$zk_why" &
meter=$!
pidname[$meter]="the measuring program (bench_peers.py)"
rc=0
wait "$meter" || rc=$?
meter=""
exit "$rc"
