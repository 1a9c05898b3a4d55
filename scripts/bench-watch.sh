#!/usr/bin/env bash
# clusterfs-watch propagation (issue 6): the time from `echo` on node 1 to
# the recorded `snapctl` call made by node 3's watcher, on a 3-node
# clusterfs on this machine (127.0.0.1), a watcher on every node running the
# rule of examples/snap/watch.conf (run = snapctl set ... {name}={value}).
#
# The clock starts just before a python3 driver writes the gate on node 1's
# mount (open, write "true\n"/"false\n", close: what `echo` does) and stops
# at the time stamped by the `snapctl` that node 3's watcher ran (a bash
# script on PATH that appends $EPOCHREALTIME and its arguments to a log:
# about 2 ms of its own start-up are included). Each write waits for its
# call before the next one; the writes rotate over 10 gates and alternate
# their values, so every write is a change. Same clock on both ends (one
# machine). Not a test: prints figures. The reference it replaces (Sunbeam's
# feature-gate sync) polls every 5 s: 5-10 s.
# Needs root and a built tree (ninja -C build).
# Usage: scripts/bench-watch.sh [CHANGES, default 300, >= 200]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}
[ "$N" -ge 200 ] || {
	echo "at least 200 changes" >&2
	exit 2
}
export E2E_DIR=$PWD/tests/e2e
export CLUSTERFSD=${CLUSTERFSD:-$PWD/build/clusterfsd}
export CLUSTERFSCTL=${CLUSTERFSCTL:-$PWD/build/clusterfsctl}
export CLUSTERFS_WATCH=${CLUSTERFS_WATCH:-$PWD/build/clusterfs-watch}
# lib.sh: cluster start, cleanup of daemons and mounts at exit, whatever happens.
# shellcheck source=../tests/e2e/lib.sh
source "$E2E_DIR/lib.sh"

B=$TEST_TMP/bin
mkdir -p "$B"
cat >"$B/snapctl" <<'EOS'
#!/bin/bash
printf '%s %s\n' "$EPOCHREALTIME" "$*" >>"$BENCH_LOG"
EOS
chmod +x "$B/snapctl"
cat >"$TEST_TMP/watch.conf" <<'EOS'
[rule gates]
match     = gates/feature.*
run       = snapctl set openstack {name}={value}
on-delete = snapctl unset openstack {name}
skip-if   = config/deployment.type=maas
EOS

say "3 nodes, a watcher on each"
cluster_start 3 --log-level warn
wait_leader n1 n2 n3
for n in n1 n2 n3; do
	: >"$TEST_TMP/$n.calls"
	PATH="$B:$PATH" BENCH_LOG=$TEST_TMP/$n.calls "$CLUSTERFS_WATCH" --mount "$(node_mount "$n")" \
		--config "$TEST_TMP/watch.conf" --state "$TEST_TMP/$n/wstate" --log-level info \
		2>>"$TEST_TMP/$n.watch.log" &
	EXTRA_PIDS+=("$!")
done
for n in n1 n2 n3; do
	wait_for grep -q reconciled "$TEST_TMP/$n.watch.log"
done

say "leader: $LEADER; $N changes on node 1, measured at node 3's snapctl"
python3 - "$(node_mount n1)" "$TEST_TMP/n3.calls" "$N" <<'EOS'
import os, sys, time

mount, log, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lat = []
seen = 0
for i in range(n):
    name = "feature.bench%d" % (i % 10)
    value = "true" if (i // 10) % 2 == 0 else "false"
    want = "set openstack %s=%s" % (name, value)
    t0 = time.time()
    with open(os.path.join(mount, "gates", name), "w") as f:
        f.write(value + "\n")
    deadline = t0 + 10
    t1 = None
    while t1 is None:
        with open(log) as f:
            lines = f.read().splitlines()
        for line in lines[seen:]:
            seen += 1
            stamp, _, call = line.partition(" ")
            if call == want:
                t1 = float(stamp)
                break
        if t1 is None:
            if time.time() > deadline:
                sys.exit("no call %r on node 3 within 10 s" % want)
            time.sleep(0.0005)
    lat.append((t1 - t0) * 1000)
lat.sort()

def pct(p):
    return lat[min(len(lat) - 1, int(round(p / 100 * len(lat))) - 1)]

print("clusterfs-watch, echo on node 1 -> snapctl on node 3, %d changes:" % n)
print("  p50 %.1f ms   p90 %.1f ms   p99 %.1f ms   max %.1f ms   min %.1f ms"
      % (pct(50), pct(90), pct(99), lat[-1], lat[0]))
print("  (reference: Sunbeam's 5 s polling sync, 5000-10000 ms)")
EOS
for n in n1 n2; do
	say "node $n's watcher made $(wc -l <"$TEST_TMP/$n.calls") calls"
done
