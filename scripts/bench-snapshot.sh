#!/bin/bash
# Snapshots against a large store (issue 11): three nodes, a store filled to
# about SIZE MiB with 1 MiB files, then MINUTES of mixed load (1 MiB
# overwrites, small writes, creates and removals) at a low snapshot threshold
# so that raft takes snapshots all along. Meanwhile a probe on every node
# reads .cluster/status (answered on the node's event loop) every PERIOD ms:
# the longest such read is the longest time that loop did not answer, an
# upper bound of the longest loop stall, measured the same way on any build.
# Node 3 is stopped during the mixed load and restarted after it: it
# catches up by snapshot install. Then everything is deleted and the size of
# each node's store.db is shown.
# Prints figures; asserts nothing. Needs root and a built tree.
#
# Usage: scripts/bench-snapshot.sh [-m MINUTES] [-s SIZE_MIB] [-t THRESHOLD] [-b BUILD]
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=5
SIZE=200
THRESHOLD=128
B=build
while getopts "m:s:t:b:" o; do
	case $o in
	m) MINUTES=$OPTARG ;;
	s) SIZE=$OPTARG ;;
	t) THRESHOLD=$OPTARG ;;
	b) B=$OPTARG ;;
	*) exit 2 ;;
	esac
done
work=$(mktemp -d /var/tmp/cfs-bench-snap.XXXXXX)
declare -A pid=() addr=()
cleanup() {
	if [ -s "$work/pid3" ]; then pid[3]=$(cat "$work/pid3"); fi
	for i in "${!pid[@]}"; do kill "${pid[$i]}" 2>/dev/null || true; done
	for i in "${!pid[@]}"; do wait "${pid[$i]}" 2>/dev/null || true; done
	for i in 1 2 3; do
		if mountpoint -q "$work/m$i" 2>/dev/null; then umount -l "$work/m$i"; fi
	done
	rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FLAGS=(--snapshot-threshold "$THRESHOLD" --snapshot-trailing "$((THRESHOLD / 2))")
start() { # start I [flags]
	local i=$1
	shift
	"$B/clusterfsd" --mount "$work/m$i" --data "$work/d$i" "$@" "${FLAGS[@]}" --log-level info \
		>/dev/null 2>>"$work/log$i" &
	pid[$i]=$!
	"$B/clusterfsctl" --mount "$work/m$i" wait --timeout 60 >/dev/null
}
for i in 1 2 3; do addr[$i]=127.0.0.1:$(port); done
start 1 --address "${addr[1]}"
start 2 --address "${addr[2]}" --join "${addr[1]}" --cluster-key "$work/d1/cluster.key"
start 3 --address "${addr[3]}" --join "${addr[1]}" --cluster-key "$work/d1/cluster.key"
echo "build $B ($(git -C . log -1 --format=%h 2>/dev/null || echo ?)), ${SIZE} MiB store," \
	"${MINUTES} min of mixed load, --snapshot-threshold $THRESHOLD"

python3 - "$work" "$SIZE" "$MINUTES" "${pid[3]}" "$B/clusterfsd" "${FLAGS[@]}" <<'EOF'
import os, sys, threading, time, random, signal, subprocess
work, size, minutes, pid3, daemon = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
flags = sys.argv[6:]
mounts = [f"{work}/m{i}" for i in (1, 2, 3)]
PERIOD = 0.02
stop = threading.Event()
phase = ["fill"]
probe = {m: {"max": 0.0, "at": "", "over100": 0, "terms": set(), "leaders": [], "changes": 0} for m in mounts}

def status(m):
    with open(f"{m}/.cluster/status") as f:
        return dict(l.split("=", 1) for l in f.read().splitlines() if "=" in l)

def prober(m):
    p = probe[m]
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            st = status(m)
        except OSError:
            st = {}
        dt = time.monotonic() - t0
        if dt > p["max"]:
            p["max"], p["at"] = dt, phase[0]
        if dt > 0.1:
            p["over100"] += 1
        if "term" in st:
            p["terms"].add(int(st["term"]))
        ld = st.get("leader", "0")
        if ld != "0" and (not p["leaders"] or p["leaders"][-1] != ld):
            if p["leaders"]:
                p["changes"] += 1
            p["leaders"].append(ld)
        time.sleep(PERIOD)

threads = [threading.Thread(target=prober, args=(m,), daemon=True) for m in mounts]
for t in threads:
    t.start()
MiB = 1 << 20
errors = {}
def write(path, data):
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        errors[e.strerror] = errors.get(e.strerror, 0) + 1

m = mounts[0]
os.makedirs(f"{m}/big", exist_ok=True)
os.makedirs(f"{m}/small", exist_ok=True)
t0 = time.monotonic()
for i in range(size):
    write(f"{m}/big/f{i}", os.urandom(MiB))
fill = time.monotonic() - t0
print(f"fill: {size} x 1 MiB in {fill:.1f} s; store.db sizes (MB):",
      " ".join(f"{os.path.getsize(f'{work}/d{i}/store.db') / 1e6:.0f}" for i in (1, 2, 3)))
phase[0] = "mixed"
# node 3 is down during the mixed load and catches up (by snapshot) after it
os.kill(pid3, signal.SIGTERM)
while os.path.exists(f"/proc/{pid3}") and open(f"/proc/{pid3}/stat").read().split()[2] != "Z":
    time.sleep(0.1)
end = time.monotonic() + minutes * 60
ops = 0
rnd = random.Random(1)
while time.monotonic() < end:
    w = mounts[rnd.randrange(2)]  # node 3 is down
    k = rnd.randrange(10)
    if k < 3:
        write(f"{w}/big/f{rnd.randrange(size)}", os.urandom(MiB))
    elif k < 8:
        write(f"{w}/small/s{rnd.randrange(500)}", os.urandom(rnd.randrange(10, 4000)))
    else:
        try:
            os.unlink(f"{w}/small/s{rnd.randrange(500)}")
        except OSError:
            pass
    ops += 1
phase[0] = "catch-up"
t0 = time.monotonic()
with open(f"{work}/log3", "a") as log:
    p3 = subprocess.Popen([daemon, "--mount", f"{work}/m3", "--data", f"{work}/d3",
                           "--log-level", "info"] + flags, stdout=subprocess.DEVNULL, stderr=log,
                          )
open(f"{work}/pid3", "w").write(str(p3.pid))
while True:
    try:
        a, b = status(mounts[0]).get("applied_index"), status(mounts[2]).get("applied_index")
        if a is not None and a == b:
            break
    except OSError:
        pass
    time.sleep(0.1)
print(f"node 3 (down during the mixed load) caught up in {time.monotonic() - t0:.1f} s")
phase[0] = "delete"
for d in ("big", "small"):
    for n in os.listdir(f"{m}/{d}"):
        try:
            os.unlink(f"{m}/{d}/{n}")
        except OSError as e:
            errors[e.strerror] = errors.get(e.strerror, 0) + 1
# a few more entries so that a snapshot can follow the removal
for i in range(300):
    write(f"{m}/small/after{i % 10}", b"x%d" % i)
time.sleep(3)
stop.set()
for t in threads:
    t.join()
print(f"mixed load: {ops} operations; write errors: {errors or 'none'}")
for i, mm in enumerate(mounts, 1):
    p = probe[mm]
    terms = sorted(p["terms"])
    print(f"node {i}: longest unanswered status read {p['max'] * 1000:.0f} ms (during {p['at']}),"
          f" reads over 100 ms: {p['over100']}, leader changes seen: {p['changes']},"
          f" terms {terms[0] if terms else '?'}..{terms[-1] if terms else '?'}")
print("store.db after deleting everything (MB):",
      " ".join(f"{os.path.getsize(f'{work}/d{i}/store.db') / 1e6:.1f}" for i in (1, 2, 3)))
EOF
for i in 1 2 3; do
	n=$(find "$work/d$i/raft" -name 'snapshot-*' ! -name '*.meta' | wc -l)
	stalls=$(grep -c 'event loop stalled' "$work/log$i" || true)
	grep 'event loop stalled' "$work/log$i" | sort -t' ' -k7 -n | tail -n 3 | sed "s/^/    node $i: /" || true
	grep 'snapshot install\|installing a snapshot' "$work/log$i" | sed "s/^/    node $i: /" || true
	longest=$(sed -n 's/.*event loop stalled \([0-9]*\) ms.*/\1/p' "$work/log$i" | sort -n | tail -n 1)
	elect=$(grep -c 'leader.*term\|term.*leader' "$work/log$i" || true)
	echo "node $i: snapshot files kept $n; logged stalls over 100 ms: $stalls (longest ${longest:-none} ms); leader/term log lines: $elect"
done
