#!/usr/bin/python3
"""The measuring half of scripts/bench-peers.sh (issue 15).

The shell script starts a 3-node clusterfs, a 3-member etcd and a 3-server
ZooKeeper on 127.0.0.1 and hands this program where they are; this program
measures every system with the same loop shapes, prints the figures, and
prints each of issue 15's goals as a ratio with "met" or "short". It starts
and stops nothing (the shell script owns the daemons).

Loop shapes, the same for the three systems:
  write       one op at a time from one process: open(O_WRONLY|O_TRUNC)+
              write+close of a small file through the mount; an etcd put over
              one kept-alive HTTP connection to the gRPC gateway
              (POST /v3/kv/put, JSON); a ZooKeeper setData through kazoo. On
              the leader and on a follower, the six series in interleaved
              batches of BATCH so that machine noise falls on all of them;
              with --cfs-single, the same clusterfs writes on a one-node
              cluster too, a reference that no goal uses.
  8 writers   8 processes, each with its own connection (its own file, key
              or znode), WARMUP ops each, then all at once W/8 ops each, on
              the leader: total ops over the time from the first start to the
              last end. After the latency loops, so that every server is warm
              (the JVM's JIT compiler above all).
  propagation the clock starts before the write on the leader and stops when
              a reader thread on a follower receives the event: inotify
              IN_CLOSE_WRITE (inotify_init1/add_watch/read via ctypes) on that
              node's mount; the etcd watch stream (POST /v3/watch) from that
              member; a ZooKeeper watch (get with a watch, armed before each
              write) through a client connected to that server. One write at a
              time, each waiting for its event; interleaved batches.
  read, floors  tools/cfs-bench (C): read on the mount and on tmpfs, 4 KiB
              pwrite+fsync on the data disk, 1-byte loopback TCP round trip.

Arguments: see main(). Exit status 1 with a message if a loop fails or an
awaited event does not arrive within EVENT_TIMEOUT.
"""
import argparse
import base64
import ctypes
import http.client
import json
import logging
import multiprocessing
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

WARMUP = 20  # ops per series before the measured ones
BATCH = 50  # ops of one series before the next series' batch
WRITERS = 8  # concurrent writers
OP_TIMEOUT = 10.0  # seconds one client call may take before the run fails
EVENT_TIMEOUT = 5.0  # seconds a write's event may take on the other node
START_TIMEOUT = 60.0  # seconds the 8 writers may take to connect
IN_CLOSE_WRITE = 0x8

now = time.perf_counter_ns  # CLOCK_MONOTONIC: comparable across processes


def die(msg):
    sys.stdout.flush()
    sys.exit("bench_peers: " + msg)


# --- clients: one per system, each with put(name, value) -----------------------------------


class CfsClient:
    """Writes files under DIR/bench/ of one node's mount."""

    def __init__(self, mount):
        self.dir = mount + "/bench"

    def put(self, name, value):
        fd = os.open(self.dir + "/" + name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, value)
        finally:
            os.close(fd)

    def close(self):
        pass


def http_connect(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=OP_TIMEOUT)
    c.connect()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def etcd_key(name):
    return base64.b64encode(b"/bench/" + name.encode()).decode()


class EtcdClient:
    """Puts through one member's gRPC gateway on one kept-alive connection."""

    def __init__(self, port):
        self.conn = http_connect(port)

    def put(self, name, value):
        body = json.dumps({"key": etcd_key(name), "value": base64.b64encode(value).decode()})
        self.conn.request("POST", "/v3/kv/put", body.encode(), {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        out = r.read()
        if r.status != 200:
            die("etcd put: HTTP %d %r" % (r.status, out[:200]))

    def close(self):
        self.conn.close()


def kazoo_client(port):
    from kazoo.client import KazooClient  # python3-kazoo; imported only when ZooKeeper runs

    zk = KazooClient(hosts="127.0.0.1:%d" % port, timeout=OP_TIMEOUT)
    zk.start(timeout=OP_TIMEOUT)
    return zk


class ZkClient:
    """setData through one server (kazoo); the znodes exist (prepare())."""

    def __init__(self, port):
        self.zk = kazoo_client(port)

    def put(self, name, value):
        self.zk.set_async("/bench/" + name, value).get(timeout=OP_TIMEOUT)

    def close(self):
        self.zk.stop()
        self.zk.close()


# --- statistics and printing ---------------------------------------------------------------


def pct(v, p):
    s = sorted(v)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def ms(ns):
    return "%.3f" % (ns / 1e6)


STAGES = ("fuse_in", "propose", "disk", "follower", "to_apply", "apply", "answer", "forward", "fuse_reply")


def stage_totals(mount):
    """{stage: (sum seconds, count)} from a node's clusterfs_write_stage_seconds."""
    out = {}
    with open(os.path.join(mount, ".cluster", "metrics")) as f:
        for line in f:
            for kind in ("sum", "count"):
                prefix = "clusterfs_write_stage_seconds_%s{stage=\"" % kind
                if line.startswith(prefix):
                    name, value = line[len(prefix):].split("\"} ")
                    s, c = out.get(name, (0.0, 0))
                    out[name] = (float(value), c) if kind == "sum" else (s, int(value))
    return out


def fuse_requests(mount):
    """{op: count} from a node's clusterfs_fuse_requests_total."""
    out = {}
    prefix = "clusterfs_fuse_requests_total{op=\""
    with open(os.path.join(mount, ".cluster", "metrics")) as f:
        for line in f:
            if line.startswith(prefix):
                name, value = line[len(prefix):].split("\"} ")
                out[name] = int(value)
    return out


def log_counters(mount):
    """(entries stored, loop turns with log writes) from a node's metrics."""
    v = {}
    with open(os.path.join(mount, ".cluster", "metrics")) as f:
        for line in f:
            for k in ("clusterfs_log_entries_stored_total ", "clusterfs_log_write_turns_total "):
                if line.startswith(k):
                    v[k] = int(line[len(k):])
    return (v.get("clusterfs_log_entries_stored_total ", 0), v.get("clusterfs_log_write_turns_total ", 0))


def metric_value(mount, name):
    """One unlabelled value from a node's metrics (None if absent)."""
    with open(os.path.join(mount, ".cluster", "metrics")) as f:
        for line in f:
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def stage_means(before, after):
    """{stage: mean microseconds} over what happened between two stage_totals."""
    means = {}
    for name, (s1, c1) in after.items():
        s0, c0 = before.get(name, (0.0, 0))
        if c1 > c0:
            means[name] = (s1 - s0) / (c1 - c0) * 1e6
    return means


def idle_state():
    """How this machine's idle CPUs wait: its cpuidle driver and the guest's
    halt polling. A vCPU that halts at once makes every wake-up dear
    (docs/operations.md, "Latency on virtual machines")."""
    def read(path):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return None
    driver = read("/sys/devices/system/cpu/cpuidle/current_driver") or "none"
    poll = read("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
    return "cpuidle %s%s" % (driver, "" if poll is None else ", guest_halt_poll_ns %s" % poll)


def cfs_bench(prog, what, d, n):
    """One cfs-bench loop: its fields (p50_us, p99_us, ops_per_s) as floats."""
    try:
        out = subprocess.run([prog, what, d, str(n)], capture_output=True, text=True, check=True,
                             timeout=600).stdout
    except subprocess.CalledProcessError as e:
        die("cfs-bench %s %s: %s" % (what, d, e.stderr.strip()))
    except subprocess.TimeoutExpired:
        die("cfs-bench %s %s: not done after 600 s" % (what, d))
    return {k: float(v) for k, v in (f.split("=") for f in out.split()[1:]) if k != "n"}


# --- 8 concurrent writers ------------------------------------------------------------------


def writer(system, target, k, n, barrier, results):
    try:
        c = {"cfs": CfsClient, "etcd": EtcdClient, "zk": ZkClient}[system](target)
        for i in range(WARMUP):
            c.put("par%d" % k, b"warm-up %d\n" % i)
        barrier.wait(timeout=START_TIMEOUT)
        t0 = now()
        for i in range(n):
            c.put("par%d" % k, b"value %d\n" % i)
        t1 = now()
        c.close()
        results.put((t0, t1, None))
    except BaseException as e:  # reported by the parent
        results.put((0, 0, "%s: %r" % (system, e)))


def parallel(system, target, total):
    # Fresh interpreters (spawn): this process has client threads by now,
    # and a fork could copy a lock one of them holds.
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(WRITERS), ctx.Queue()
    n = total // WRITERS
    # daemon: ended when this program exits, also on SIGTERM (main()).
    procs = [ctx.Process(target=writer, args=(system, target, k, n, barrier, results), daemon=True)
             for k in range(WRITERS)]
    for p in procs:
        p.start()
    got = []
    for _ in procs:
        try:
            got.append(results.get(timeout=START_TIMEOUT + OP_TIMEOUT * n))
        except queue.Empty:
            for p in procs:
                p.kill()
            die("%s: 8 writers did not finish in time" % system)
    for p in procs:
        p.join(timeout=OP_TIMEOUT)
    errs = [e for _, _, e in got if e]
    if errs:
        die("8 writers: " + errs[0])
    start, end = min(t0 for t0, _, _ in got), max(t1 for _, t1, _ in got)
    return n * WRITERS / ((end - start) / 1e9)


# --- propagation: one writer, one event reader on another node -----------------------------


def drain(q):
    k = 0
    while True:
        try:
            q.get_nowait()
            k += 1
        except queue.Empty:
            return k


class CfsWatch:
    """IN_CLOSE_WRITE on WATCHER/bench/p, read by a thread."""

    def __init__(self, writer_mount, watcher_mount):
        self.w = CfsClient(writer_mount)
        self.w.put("p", b"start\n")
        path = watcher_mount + "/bench/p"
        deadline = time.time() + EVENT_TIMEOUT
        while True:  # the create and the write replayed on the watcher's node
            try:
                with open(path, "rb") as f:
                    if f.read() == b"start\n":
                        break
            except FileNotFoundError:
                pass
            if time.time() > deadline:
                die("clusterfs: bench/p did not reach the watching node within %.0f s" % EVENT_TIMEOUT)
            time.sleep(0.01)
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, path.encode(), IN_CLOSE_WRITE) < 0:
            die("inotify on the watching node: " + os.strerror(ctypes.get_errno()))
        self.events = queue.Queue()
        self.extra = 0
        threading.Thread(target=self.reader, daemon=True).start()

    def reader(self):
        while True:
            buf = os.read(self.fd, 65536)
            t = now()
            off = 0
            while off < len(buf):
                _, mask, _, ln = struct.unpack_from("iIII", buf, off)
                off += 16 + ln
                if mask & IN_CLOSE_WRITE:
                    self.events.put(t)

    def one(self, i):
        self.extra += drain(self.events)
        return write_and_wait(self.w, self.events, i,
                              "clusterfs: no IN_CLOSE_WRITE on the watching node")


def write_and_wait(writer, events, i, missing):
    """Write value i and return the seconds until the next event's time;
    @missing says what did not come if none does within EVENT_TIMEOUT."""
    t0 = now()
    writer.put("p", b"value %d\n" % i)
    try:
        return events.get(timeout=EVENT_TIMEOUT) - t0
    except queue.Empty:
        die("%s within %.0f s" % (missing, EVENT_TIMEOUT))


class EtcdWatch:
    """The watch stream of /bench/p from the watching member, read by a thread."""

    def __init__(self, writer_port, watcher_port):
        self.w = EtcdClient(writer_port)
        conn = http_connect(watcher_port)
        conn.sock.settimeout(None)  # the stream is idle between writes
        conn.request("POST", "/v3/watch", json.dumps({"create_request": {"key": etcd_key("p")}}).encode(),
                     {"Content-Type": "application/json"})
        self.resp = conn.getresponse()
        if self.resp.status != 200:
            die("etcd watch: HTTP %d" % self.resp.status)
        first = json.loads(self.resp.readline())
        if not first.get("result", {}).get("created"):
            die("etcd watch not created: %r" % first)
        self.events = queue.Queue()
        self.extra = 0
        threading.Thread(target=self.reader, daemon=True).start()

    def reader(self):
        while True:
            line = self.resp.readline()
            t = now()
            if not line:
                return
            if not line.strip():
                continue
            for ev in json.loads(line).get("result", {}).get("events", []):
                self.events.put((base64.b64decode(ev["kv"].get("value", "")), t))

    def one(self, i):
        drain(self.events)
        value = b"value %d\n" % i
        t0 = now()
        self.w.put("p", value)
        deadline = time.time() + EVENT_TIMEOUT
        while True:
            try:
                v, t = self.events.get(timeout=max(0.001, deadline - time.time()))
            except queue.Empty:
                die("etcd: no watch event on the watching member within %.0f s" % EVENT_TIMEOUT)
            if v == value:
                return t - t0


class ZkWatch:
    """A data watch on /bench/p through a client of the watching server,
    armed (get with a watch) before each write: ZooKeeper's watches fire once."""

    def __init__(self, writer_port, watcher_port):
        self.w = ZkClient(writer_port)
        self.zk = kazoo_client(watcher_port)
        self.events = queue.Queue()
        self.extra = 0

    def fired(self, event):
        self.events.put(now())

    def one(self, i):
        drain(self.events)
        self.zk.get_async("/bench/p", watch=self.fired).get(timeout=OP_TIMEOUT)
        return write_and_wait(self.w, self.events, i,
                              "ZooKeeper: no watch event through the watching server")


# --- the run -------------------------------------------------------------------------------


def interleaved(series, n, warm=None):
    """series: {key: op(i) -> ns}. WARMUP each, then warm() if given, then n each in
    batches of BATCH."""
    out = {k: [] for k in series}
    i = 0
    for op in series.values():
        for _ in range(WARMUP):
            op(i)
            i += 1
    if warm is not None:
        warm()
    while any(len(v) < n for v in out.values()):
        for k, op in series.items():
            for _ in range(min(BATCH, n - len(out[k]))):
                out[k].append(op(i))
                i += 1
    return out


def timed(put, name):
    def op(i):
        t0 = now()
        put(name, b"value %d\n" % i)
        return now() - t0

    return op


def prepare(systems, single):
    """The files, keys and znodes the loops write, created once."""
    if single:
        os.makedirs(single + "/bench", exist_ok=True)
    if "cfs" in systems:
        os.makedirs(systems["cfs"][0] + "/bench", exist_ok=True)
        os.makedirs(systems["cfs"][0] + "/bench-read", exist_ok=True)
        deadline = time.time() + EVENT_TIMEOUT
        for m in systems["cfs"][1:]:  # replicated to the followers
            while not os.path.isdir(m + "/bench"):
                if time.time() > deadline:
                    die("clusterfs: bench/ did not reach %s within %.0f s" % (m, EVENT_TIMEOUT))
                time.sleep(0.01)
    if "zk" in systems:
        zk = kazoo_client(systems["zk"][0])
        for name in ["wL", "wF", "p"] + ["par%d" % k for k in range(WRITERS)]:
            zk.ensure_path("/bench/" + name)
        zk.stop()
        zk.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, required=True, help="ops per latency series")
    ap.add_argument("--writers-ops", type=int, required=True, help="ops per 8-writer run, in total")
    ap.add_argument("--reads", type=int, required=True, help="open+read+close loops per file system")
    ap.add_argument("--cfs-bench", required=True)
    ap.add_argument("--disk", required=True, help="a directory on the data disk (fsync floor)")
    ap.add_argument("--tmpfs", required=True)
    ap.add_argument("--cfs", required=True, help="mounts: LEADER,FOLLOWER,WATCHER")
    ap.add_argument("--cfs-nodes", default="?,?,?", help="their node indexes, for the header")
    ap.add_argument("--cfs-single", default="", help="the mount of a one-node clusterfs (a reference)")
    ap.add_argument("--etcd", required=True, help="client ports LEADER,FOLLOWER,WATCHER, or -")
    ap.add_argument("--etcd-version", default="-")
    ap.add_argument("--etcd-why", default="", help="why etcd is skipped")
    ap.add_argument("--zk", required=True, help="client ports LEADER,FOLLOWER,WATCHER, or -")
    ap.add_argument("--zk-version", default="-")
    ap.add_argument("--zk-why", default="", help="why ZooKeeper is skipped")
    a = ap.parse_args()
    # SIGTERM from bench-peers.sh's trap: exit as from an error, so that
    # multiprocessing ends the writers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.basicConfig(level=logging.ERROR)  # kazoo's connection chatter off

    systems = {"cfs": a.cfs.split(",")}
    if a.etcd != "-":
        systems["etcd"] = [int(p) for p in a.etcd.split(",")]
    if a.zk != "-":
        systems["zk"] = [int(p) for p in a.zk.split(",")]
    names = {"cfs": "clusterfs", "etcd": ("etcd " + a.etcd_version).replace(" -", ""),
             "zk": ("ZooKeeper " + a.zk_version).replace(" -", "")}
    prepare(systems, a.cfs_single)
    started = time.time()

    clients = {"cfs": CfsClient, "etcd": EtcdClient, "zk": ZkClient}
    series = {}
    opened = []
    for role, idx in (("L", 0), ("F", 1)):
        for s, t in systems.items():
            c = clients[s](t[idx])
            opened.append(c)
            series[(s, role)] = timed(c.put, "w" + role)
    if a.cfs_single:
        c = CfsClient(a.cfs_single)
        opened.append(c)
        series[("cfs1", "L")] = timed(c.put, "w1")
    cfs_mounts = systems["cfs"]
    before = {}

    def snapshot_counters():  # after the warm-up writes
        before["stages"] = [stage_totals(m) for m in cfs_mounts[:2]]
        before["fuse"] = fuse_requests(cfs_mounts[0])

    writes = interleaved(series, a.n, snapshot_counters)
    stages_before, fuse_before = before["stages"], before["fuse"]
    fuse_after = fuse_requests(cfs_mounts[0])
    stages = [stage_means(b, stage_totals(m)) for b, m in zip(stages_before, cfs_mounts[:2])]
    for c in opened:
        c.close()

    watches = {}
    for s, t in systems.items():
        watches[s] = {"cfs": CfsWatch, "etcd": EtcdWatch, "zk": ZkWatch}[s](t[0], t[2])
    prop = interleaved({s: w.one for s, w in watches.items()}, a.n)
    par, batching = {}, None
    for s, t in systems.items():
        if s == "cfs":
            log_before = log_counters(t[0])
        par[s] = parallel(s, t[0], a.writers_ops)
        if s == "cfs":
            log_after = log_counters(t[0])
            writes_done = log_after[1] - log_before[1]
            if writes_done > 0:
                batching = ((log_after[0] - log_before[0]) / writes_done, writes_done)
    floors = {"fsync": cfs_bench(a.cfs_bench, "fsync", a.disk, a.n),
              "rtt": cfs_bench(a.cfs_bench, "rtt", "-", a.n)}
    reads = {"cfs": cfs_bench(a.cfs_bench, "read", systems["cfs"][0] + "/bench-read", a.reads),
             "tmpfs": cfs_bench(a.cfs_bench, "read", a.tmpfs, a.reads)}
    elapsed = time.time() - started

    # --- figures -------------------------------------------------------------------------
    cols = ["cfs", "etcd", "zk"]
    print("bench-peers: %d CPUs, kernel %s, %s; %.0f s of measurement"
          % (os.cpu_count(), os.uname().release, idle_state(), elapsed))
    print("  N=%d ops per latency series (+%d warm-up, interleaved batches of %d); W=%d ops per 8-writer run; "
          "R=%d reads" % (a.n, WARMUP, BATCH, a.writers_ops, a.reads))
    ln = a.cfs_nodes.split(",")
    flags = os.environ.get("CFS_FLAGS", "").strip()
    flags = " (%s)" % flags if flags else ""
    print("  clusterfs: 3 nodes%s; leader node %s, follower node %s writes, node %s watches"
          % ((flags,) + tuple(ln)))
    for s, why in (("etcd", a.etcd_why), ("zk", a.zk_why)):
        if s in systems:
            print("  %s: 3 on 127.0.0.1; leader on client port %d, follower %d writes, %d watches"
                  % ((names[s],) + tuple(systems[s])))
        else:
            print("  %s: SKIPPED: %s" % (names[s].split()[0], why))
    print("  clients: python3 for all writes (os.open/write/close; http.client keep-alive to etcd's gateway; "
          "kazoo); cfs-bench (C) for reads and floors")
    print()

    def cell(s, f):
        return f(s) if s in systems else "-"

    print("%-46s %16s %16s %16s" % (("figure",) + tuple(names[c] for c in cols)))
    for role, what in (("L", "write on the leader, p50 / p99 ms"), ("F", "write on a follower, p50 / p99 ms")):
        print("%-46s %16s %16s %16s" % ((what,) + tuple(
            cell(c, lambda s: "%s / %s" % (ms(pct(writes[(s, role)], 50)), ms(pct(writes[(s, role)], 99))))
            for c in cols)))
    if ("cfs1", "L") in writes:
        print("%-46s %16s" % ("write on a one-node clusterfs, p50 / p99 ms", "%s / %s" % (
            ms(pct(writes[("cfs1", "L")], 50)), ms(pct(writes[("cfs1", "L")], 99)))))
    print("%-46s %16s %16s %16s" % (("8 writers on the leader, ops/s",) + tuple(
        cell(c, lambda s: "%.0f" % par[s]) for c in cols)))
    print("%-46s %16s %16s %16s" % (("propagation leader -> follower, p50 / p99 ms",) + tuple(
        cell(c, lambda s: "%s / %s" % (ms(pct(prop[s], 50)), ms(pct(prop[s], 99)))) for c in cols)))
    for fs, what in (("cfs", "cached open+read+close, p50 / p99 us, ops/s"), ("tmpfs", "  the same on tmpfs")):
        print("%-46s %24s" % (what, "%.1f / %.1f, %.0f/s" % (
            reads[fs]["p50_us"], reads[fs]["p99_us"], reads[fs]["ops_per_s"])))
    print("floors: 4 KiB pwrite+fsync on the data disk p50 %.1f us (p99 %.1f); loopback TCP round trip p50 %.1f us"
          " (p99 %.1f)" % (floors["fsync"]["p50_us"], floors["fsync"]["p99_us"], floors["rtt"]["p50_us"],
                           floors["rtt"]["p99_us"]))
    if watches["cfs"].extra:
        print("  note: %d IN_CLOSE_WRITE events on the watching node beyond one per write" % watches["cfs"].extra)
    print()

    # --- where a clusterfs write's time goes ---------------------------------------------
    def mean_us(v):
        return sum(v) / len(v) / 1e3

    print("where a clusterfs write's time goes, mean us per entry over both write series "
          "(the nodes' clusterfs_write_stage_seconds):")
    for label, st in (("leader node (its writes and the follower's)", stages[0]),
                      ("follower node (its writes)", stages[1])):
        print("  %-44s %s" % (label, "  ".join("%s %.1f" % (k, st[k]) for k in STAGES if k in st) or "-"))
    lead = stages[0]
    inside = sum(lead.get(k, 0) for k in ("fuse_in", "propose", "to_apply", "apply", "answer", "fuse_reply")) + \
        max(lead.get("disk", 0), lead.get("follower", 0))
    print("  leader write, mean: %.1f us as the client saw it; %.1f us of it in the daemon on the WRITE "
          "request's path; the rest is the kernel (FUSE queue and wake-ups) and the write's other requests "
          "(OPEN, GETXATTR, RELEASE)" % (mean_us(writes[("cfs", "L")]), inside))
    if ("cfs1", "L") in writes:
        one = pct(writes[("cfs1", "L")], 50)
        print("  one-node reference: write p50 %.3f ms = %.2fx the fsync p50; the 3-node leader's p50 is %.2fx it "
              "(the follower's round trip and disk write, and two followers sharing the CPUs)"
              % (one / 1e6, one / (floors["fsync"]["p50_us"] * 1e3), pct(writes[("cfs", "L")], 50) / one))
    if batching:
        print("  8 writers on the leader: %.2f entries per log write on the leader (%d writes; "
              "clusterfs_log_entries_stored_total / clusterfs_log_write_turns_total)" % batching)
    n_lw = len(writes[("cfs", "L")])
    print("  FUSE requests on the leader's mount per leader write (clusterfs_fuse_requests_total; with "
          "the replay of the follower's write there, for inotify):\n    %s" % "  ".join(
        "%s %.2f" % (k, (fuse_after.get(k, 0) - fuse_before.get(k, 0)) / n_lw)
        for k in sorted(fuse_after) if fuse_after.get(k, 0) > fuse_before.get(k, 0)))
    stalls = [metric_value(m, "clusterfs_loop_stall_longest_seconds") for m in cfs_mounts]
    print("  longest event-loop iteration of each node over the run (clusterfs_loop_stall_longest_seconds): %s"
          % " / ".join("-" if v is None else "%.0f ms" % (v * 1000) for v in stalls))
    print()

    # --- goals ---------------------------------------------------------------------------
    peers = [s for s in ("etcd", "zk") if s in systems]
    floor_ns = (floors["fsync"]["p50_us"] + floors["rtt"]["p50_us"]) * 1e3
    print("%-62s %10s %10s %7s %8s  %s" % ("goal (issue 15)", "clusterfs", "reference", "ratio", "goal", ""))

    def goal(what, value, ref, unit, cmp, bound):
        fmt = (lambda x: ms(x) + " ms") if unit == "ms" else (lambda x: "%.0f/s" % x)
        if ref is None:
            print("%-62s %10s %10s %7s %8s  %s" % (what, fmt(value), "-", "-", cmp + "%.2f" % bound, "no peer"))
            return
        r = value / ref
        ok = r <= bound if cmp == "<=" else r >= bound
        print("%-62s %10s %10s %7.2f %8s  %s" % (what, fmt(value), fmt(ref), r, cmp + "%.2f" % bound,
                                                   "met" if ok else "short"))

    def best_latency(key):
        if not peers:
            return None, "no peer"
        s = min(peers, key=lambda p: pct(key(p), 50))
        return pct(key(s), 50), names[s].split()[0]

    for role, where in (("L", "leader"), ("F", "follower")):
        w50 = pct(writes[("cfs", role)], 50)
        ref, who = best_latency(lambda p: writes[(p, role)])
        goal("write p50 on the %s <= 0.5x the better peer (%s)" % (where, who), w50, ref, "ms", "<=", 0.5)
        goal("write p50 on the %s <= 3x (fsync p50 + RTT p50)" % where, w50, floor_ns, "ms", "<=", 3.0)
    if peers:
        s = max(peers, key=lambda p: par[p])
        goal("8 writers >= 2x the better peer (%s)" % names[s].split()[0], par["cfs"], par[s], "ops", ">=", 2.0)
    else:
        goal("8 writers >= 2x the better peer", par["cfs"], None, "ops", ">=", 2.0)
    p50, p99 = pct(prop["cfs"], 50), pct(prop["cfs"], 99)
    ref, who = best_latency(lambda p: prop[p])
    goal("propagation p50 <= 0.5x the better peer's watch (%s)" % who, p50, ref, "ms", "<=", 0.5)
    goal("propagation p50 <= leader write p50 + 0.3 ms", p50, pct(writes[("cfs", "L")], 50) + 0.3e6,
         "ms", "<=", 1.0)
    goal("propagation p99 <= 5 ms", p99, 5e6, "ms", "<=", 1.0)
    goal("cached open+read+close >= 0.25x tmpfs (ops/s)", reads["cfs"]["ops_per_s"], reads["tmpfs"]["ops_per_s"],
         "ops", ">=", 0.25)


if __name__ == "__main__":
    main()
