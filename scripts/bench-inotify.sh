#!/bin/bash
# Propagation latency of a change to a watcher on another node (issue 4,
# DESIGN §5): a write on node 1 of a 3-node clusterfs -> IN_CLOSE_WRITE read
# by an inotify watcher on node 3's mount; and, measured in the same run on
# the same machine, the same propagation through etcd: a put on member 1 of a
# 3-member etcd 3.4 (Debian's etcd-server) -> the event read from a watch on
# member 3. Both leaders are placed on the writer's node (clusterfs: node 1
# bootstraps and leads; etcd: leadership moved to member 1), both with their
# default durability (fsync'd raft logs), all on 127.0.0.1.
#
# Fair measurement: one long-lived python3 process writes and watches. The
# clock starts just before the write (open+write+close of the file on node
# 1's mount; POST /v3/kv/put on a kept-alive connection to member 1) and stops
# when the watcher thread's read() returns the event (inotify_init1 /
# inotify_add_watch / read via ctypes on node 3's mount; the streaming
# response of POST /v3/watch on member 3, over the gRPC gateway's JSON). Each
# write waits for its event before the next one. The two systems run in
# interleaved batches of 50 writes, so that machine noise falls on both.
# For context, a third series writes on node 2, a follower (its writes are
# forwarded to the leader), watched on node 3 as well.
#
# Needs root and a built tree (ninja -C build). Installs etcd-server and
# etcd-client with apt-get if missing; without them the etcd half is skipped
# with a message. Not a test: it prints figures.
# Usage: scripts/bench-inotify.sh [WRITES per system, default 1000, >= 300]
# CFS_FLAGS: more clusterfsd options (e.g. "--election-timeout 60");
# BENCH_NO_ETCD=1: clusterfs only.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
B=build
[ -x "$B/clusterfsd" ] || {
	echo "build first: ninja -C build" >&2
	exit 1
}
[ "$(id -u)" -eq 0 ] || {
	echo "needs root (FUSE mounts)" >&2
	exit 1
}

etcd_ok=1
etcd_why=""
if [ "${BENCH_NO_ETCD:-0}" = 1 ]; then
	etcd_ok=0
	etcd_why="BENCH_NO_ETCD=1"
elif ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
	echo "installing etcd-server and etcd-client (apt-get)..." >&2
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server etcd-client >/dev/null 2>&1; then
		apt-get update >/dev/null 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server etcd-client >/dev/null 2>&1 || true
	fi
	if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
		etcd_ok=0
		etcd_why="etcd-server/etcd-client could not be installed with apt-get"
	fi
fi

work=$(mktemp -d /var/tmp/cfs-bench-inotify.XXXXXX)
declare -a pids=()
cleanup() {
	local p i
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	for i in 1 2 3; do
		if mountpoint -q "$work/m$i" 2>/dev/null; then umount -l "$work/m$i"; fi
	done
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- clusterfs: 3 daemons ---------------------------------------------------------------
declare -a addr=()
for i in 1 2 3; do addr[i]=127.0.0.1:$(port); done
for i in 1 2 3; do
	join=()
	[ "$i" = 1 ] || join=(--join "${addr[1]}" --cluster-key "$work/d1/cluster.key")
	# shellcheck disable=SC2086 # CFS_FLAGS: words
	"$B/clusterfsd" --mount "$work/m$i" --data "$work/d$i" --address "${addr[i]}" "${join[@]}" \
		--log-level warn ${CFS_FLAGS:-} >/dev/null 2>>"$work/log$i" &
	pids+=($!)
	"$B/clusterfsctl" --mount "$work/m$i" wait --timeout 30 >/dev/null
done
cfs_leader=$(cut -d' ' -f1 "$work/m1/.cluster/leader")
cfs_self=$(cat "$work/m1/.cluster/self")

# --- etcd: 3 members ----------------------------------------------------------------------
etcd_version="-"
if [ "$etcd_ok" = 1 ]; then
	etcd_version=$(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p')
	declare -a cport=() pport=()
	cluster=""
	for i in 1 2 3; do
		cport[i]=$(port)
		pport[i]=$(port)
		cluster+="${cluster:+,}e$i=http://127.0.0.1:${pport[i]}"
	done
	for i in 1 2 3; do
		etcd --name "e$i" --data-dir "$work/e$i" \
			--listen-client-urls "http://127.0.0.1:${cport[i]}" \
			--advertise-client-urls "http://127.0.0.1:${cport[i]}" \
			--listen-peer-urls "http://127.0.0.1:${pport[i]}" \
			--initial-advertise-peer-urls "http://127.0.0.1:${pport[i]}" \
			--initial-cluster "$cluster" --initial-cluster-state new \
			--initial-cluster-token cfs-bench-inotify \
			--logger zap --log-level warn >/dev/null 2>>"$work/etcd$i.log" &
		pids+=($!)
	done
	eps="http://127.0.0.1:${cport[1]},http://127.0.0.1:${cport[2]},http://127.0.0.1:${cport[3]}"
	for ((t = 0; t < 150; t++)); do
		if ETCDCTL_API=3 etcdctl --endpoints="$eps" endpoint health >/dev/null 2>&1; then
			break
		fi
		sleep 0.2
	done
	if ! ETCDCTL_API=3 etcdctl --endpoints="$eps" endpoint health >/dev/null 2>&1; then
		etcd_ok=0
		etcd_why="the 3 etcd members did not become healthy in 30 s (logs: $(tail -n 3 "$work/etcd1.log"))"
	else
		# leadership on member 1, where the puts go (as node 1 leads clusterfs)
		status=$(ETCDCTL_API=3 etcdctl --endpoints="$eps" endpoint status -w json)
		read -r e1_id leader_ep < <(python3 -c '
import json, sys
st = json.load(sys.stdin)
e1 = [s for s in st if s["Endpoint"].endswith(":" + sys.argv[1])][0]["Status"]["header"]["member_id"]
leader = st[0]["Status"]["leader"]
ep = [s["Endpoint"] for s in st if s["Status"]["header"]["member_id"] == leader][0]
print("%x" % e1, ep)' "${cport[1]}" <<<"$status")
		if [ "$leader_ep" != "http://127.0.0.1:${cport[1]}" ]; then
			ETCDCTL_API=3 etcdctl --endpoints="$leader_ep" move-leader "$e1_id" >/dev/null
		fi
	fi
fi
etcd_ports="-"
[ "$etcd_ok" = 1 ] && etcd_ports="${cport[1]},${cport[3]}"

python3 - "$work/m1" "$work/m3" "$work/m2" "$N" "$etcd_ports" "$etcd_version" "$cfs_leader" "$cfs_self" \
	"$etcd_why" <<'EOF'
import base64, ctypes, http.client, json, os, queue, socket, struct, sys, threading, time

m1, m3, m2, n, etcd_ports, etcd_version, cfs_leader, cfs_self, etcd_why = sys.argv[1:10]
n = int(n)
WARMUP, BATCH, TIMEOUT = 20, 50, 5.0
now = time.perf_counter_ns

# --- clusterfs ---------------------------------------------------------------------------
libc = ctypes.CDLL(None, use_errno=True)
IN_CLOSE_WRITE = 0x8
os.makedirs(m1 + "/bench", exist_ok=True)
ifd = libc.inotify_init1(os.O_CLOEXEC)
wds = {}
for name in ("f", "g"):  # f: written on node 1, g: on node 2
    with open(m1 + "/bench/" + name, "w") as f:
        f.write("start\n")
    deadline = time.time() + 10
    while not os.path.exists(m3 + "/bench/" + name):
        if time.time() > deadline:
            sys.exit("bench/%s never appeared on node 3" % name)
        time.sleep(0.01)
    with open(m3 + "/bench/" + name) as f:  # the create and the write both replayed
        while f.read() != "start\n":
            if time.time() > deadline:
                sys.exit("bench/%s never got its content on node 3" % name)
            time.sleep(0.01)
            f.seek(0)
    wd = libc.inotify_add_watch(ifd, (m3 + "/bench/" + name).encode(), IN_CLOSE_WRITE)
    if ifd < 0 or wd < 0:
        sys.exit("inotify on node 3: " + os.strerror(ctypes.get_errno()))
    wds[wd] = name
cfs_events = {"f": queue.Queue(), "g": queue.Queue()}

def inotify_reader():
    while True:
        buf = os.read(ifd, 65536)
        t = now()  # the event has arrived
        off = 0
        while off < len(buf):
            wd, mask, cookie, ln = struct.unpack_from("iIII", buf, off)
            off += 16 + ln
            if mask & IN_CLOSE_WRITE and wd in wds:
                cfs_events[wds[wd]].put(t)

threading.Thread(target=inotify_reader, daemon=True).start()
cfs_extra = 0

def drain(q):
    k = 0
    while True:
        try:
            q.get_nowait()
            k += 1
        except queue.Empty:
            return k

def cfs_one(i, mount=m1, name="f"):
    global cfs_extra
    q = cfs_events[name]
    cfs_extra += drain(q)
    data = b"value %d\n" % i
    t0 = now()
    fd = os.open(mount + "/bench/" + name, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, data)
    os.close(fd)
    t1 = now()
    tev = q.get(timeout=TIMEOUT)
    return tev - t0, t1 - t0

# --- etcd ----------------------------------------------------------------------------------
etcd = etcd_ports != "-"
if etcd:
    p1, p3 = (int(p) for p in etcd_ports.split(","))
    key = base64.b64encode(b"/bench/f").decode()

    def connect(port):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.connect()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return c

    put_conn = connect(p1)
    watch_conn = connect(p3)
    watch_conn.request("POST", "/v3/watch", json.dumps({"create_request": {"key": key}}).encode(),
                       {"Content-Type": "application/json"})
    wresp = watch_conn.getresponse()
    if wresp.status != 200:
        sys.exit("etcd watch: HTTP %d" % wresp.status)
    first = json.loads(wresp.readline())
    if not first.get("result", {}).get("created"):
        sys.exit("etcd watch not created: %r" % first)
    etcd_events = queue.Queue()

    def watch_reader():
        while True:
            line = wresp.readline()
            t = now()
            if not line:
                return
            if not line.strip():
                continue
            for ev in json.loads(line).get("result", {}).get("events", []):
                etcd_events.put((base64.b64decode(ev["kv"].get("value", "")), t))

    threading.Thread(target=watch_reader, daemon=True).start()

    def etcd_one(i):
        drain(etcd_events)
        value = b"value %d\n" % i
        body = json.dumps({"key": key, "value": base64.b64encode(value).decode()}).encode()
        t0 = now()
        put_conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
        r = put_conn.getresponse()
        r.read()
        t1 = now()
        if r.status != 200:
            sys.exit("etcd put: HTTP %d" % r.status)
        while True:
            v, tev = etcd_events.get(timeout=TIMEOUT)
            if v == value:
                return tev - t0, t1 - t0

# --- the run ------------------------------------------------------------------------------
cfs, cfs_call, et, et_call, fol, fol_call = [], [], [], [], [], []
for i in range(WARMUP):
    cfs_one(i)
    cfs_one(i, m2, "g")
    if etcd:
        etcd_one(i)
time.sleep(0.2)
for q in cfs_events.values():
    drain(q)
cfs_extra = 0
i = WARMUP
while len(cfs) < n:
    for _ in range(min(BATCH, n - len(cfs))):
        a, b = cfs_one(i)
        cfs.append(a)
        cfs_call.append(b)
        i += 1
    if etcd:
        for _ in range(min(BATCH, n - len(et))):
            a, b = etcd_one(i)
            et.append(a)
            et_call.append(b)
            i += 1
    for _ in range(min(BATCH, n - len(fol))):
        a, b = cfs_one(i, m2, "g")
        fol.append(a)
        fol_call.append(b)
        i += 1
time.sleep(0.2)
for q in cfs_events.values():
    cfs_extra += drain(q)

def pct(v, p):
    s = sorted(v)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]

def ms(x):
    return "%.3f" % (x / 1e6)

def line(name, v):
    return "%-48s p50 %s  p90 %s  p99 %s  max %s  mean %s ms" % (
        name, ms(pct(v, 50)), ms(pct(v, 90)), ms(pct(v, 99)), ms(max(v)), ms(sum(v) / len(v)))

print("machine: %d CPUs, kernel %s; %d writes per system (+%d warm-up), interleaved batches of %d"
      % (os.cpu_count(), os.uname().release, n, WARMUP, BATCH))
print("clusterfs: node 1 is node id %s, leader id %s%s; %s"
      % (cfs_self, cfs_leader, (", flags " + os.environ["CFS_FLAGS"]) if os.environ.get("CFS_FLAGS") else "",
         ("etcd %s: leader moved to member 1" % etcd_version) if etcd else "etcd: skipped"))
print(line("clusterfs  write node 1 -> IN_CLOSE_WRITE node 3", cfs))
print(line("           (open+write+close on node 1 returned)", cfs_call))
print(line("(clusterfs  write node 2, a follower -> node 3)", fol))
print(line("           (open+write+close on node 2 returned)", fol_call))
if cfs_extra:
    print("           WARNING: %d IN_CLOSE_WRITE events beyond one per write" % cfs_extra)
if etcd:
    print(line("etcd       put member 1 -> watch event member 3", et))
    print(line("           (put returned)", et_call))
    r50, r99 = pct(cfs, 50) / pct(et, 50), pct(cfs, 99) / pct(et, 99)
    print("ratio clusterfs/etcd: p50 %.2f, p99 %.2f" % (r50, r99))
    print("goal p50 <= half of etcd's: %s (%s vs %s ms)"
          % ("met" if r50 <= 0.5 else "NOT met", ms(pct(cfs, 50)), ms(pct(et, 50) / 2)))
else:
    print("etcd half skipped: %s" % etcd_why)
print("goal p99 <= 5 ms: %s (%s ms)" % ("met" if pct(cfs, 99) <= 5e6 else "NOT met", ms(pct(cfs, 99))))
EOF
