#!/usr/bin/env python3
"""The checker of a fault run: did the cluster lose, invent or reorder
anything the clients were told?

    checker.py RUN_DIR [--json SUMMARY] [--max-steps N]

RUN_DIR (written by tests/faults/test_faults.sh):
  meta.json           seed, nodes, registers (path -> initial token), logs
  history/*.jsonl     the clients' operations (tests/faults/client.py)
  final/STAGE/N.json  each node's state at the end (client.py dump), for
                      every STAGE (after the faults, after kill -9 of all
                      nodes and a restart)
  faults.jsonl        what the nemesis did (optional)
  anomalies.jsonl     what the driver saw go wrong (optional): a daemon
                      that crashed, hung or survived kill -9...

Exit status 0 when no violation was found, 1 otherwise, 2 on bad input.

What a mutation's result means (DESIGN §3): "ok" took effect exactly once,
between its start and its end. EROFS, and any failure of the open(2) of a
write (the data never reached the daemon), mean it did not take effect.
Any other failure (ETIMEDOUT, ENOTCONN, EIO...), or no answer at all (the
client was stuck and killed), is "maybe": it may take effect, once, at any
time after its start — or never.

Checks (each violation names the operations involved):
  registers   every value read (plain, fsync'ed, final) was written to
              that file, by a write that is not known to have failed and
              that started before the read ended; a whole value (no torn
              or mixed content); no fsync'ed or final read older than a
              write acknowledged before it began (a lost write); no read
              on a node older than what that node returned or acknowledged
              before (nodes never go back); and per file, the fsync'ed
              reads, the final value and the writes are linearizable (WGL
              search, Wing & Gong / Lowe, with maybe-writes as operations
              that may take effect any time after their start).
  logs        every appended line acknowledged is there exactly once on
              every node, a maybe-line at most once, a failed one never,
              no line that was never written, none torn; lines
              acknowledged one after another are in that order; every read
              of a log is a prefix of the final log, holds every line
              acknowledged before it began (fsync'ed reads: anywhere; plain
              reads: on its node), and no line whose append had not begun.
  creates     every acknowledged create is there on every node with its
              content, a maybe-create with no or its content, a failed one
              never; no name twice in a listing; listings hold nothing that
              was never created and (fsync'ed: anywhere, plain: on its
              node) every create acknowledged before they began.
  nodes       every node's final state is the same, and the same after the
              kill -9 of all nodes and the restart.
  errnos      only the errnos a fault can explain (EEXIST on a unique
              create means a request was applied twice).
  driver      a daemon that crashed or hung (from anomalies.jsonl).

The linearizability search itself is in wgl.py.
"""
import argparse
import bisect
import collections
import glob
import hashlib
import json
import os
import sys

from wgl import INF, linearizable  # linearizability of one register (its own module)

NEG = -INF

# The mutation was not applied (DESIGN §3: a failed mutation changes nothing;
# EROFS: the node knew it had no leader and proposed nothing).
DEFINITE_FAIL = {"EROFS"}
# Failures the faults explain: no leader (EROFS), outcome unknown
# (ETIMEDOUT), a daemon killed under the request (ENOTCONN, ECONNABORTED,
# EIO), the bare mount point of a node being restarted (ENOENT), a signal.
EXPECTED_ERRNOS = {"EROFS", "ETIMEDOUT", "ENOTCONN", "ECONNABORTED", "EIO", "ENOENT", "EINTR"}

# An operation slower than this is reported (not a violation: the machine
# may be loaded; a pause holds a node's clients for up to 6 s and a commit
# gives up after 5 s).
SLOW_OP_NS = 20 * 10**9

REGISTER_READS = ("read", "read_sync")
LOG_READS = ("read_log", "read_log_sync")
LISTS = ("list", "list_sync")


# --- loading ------------------------------------------------------------------------


def load_jsonl(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                # the last line of a client killed while writing it
                print("checker: %s:%d: not JSON, skipped: %r" % (path, n, line[:80]), file=sys.stderr)
    return out


def load_history(records):
    """Operations from client records: the last record of each (client,
    seq) wins; one still "pending" never ended (end = INF). Returns (ops,
    clocks) where clocks are the clients' {"mono", "real"} pairs."""
    last = {}
    clocks = []
    for r in records:
        if "clock" in r:
            clocks.append(r["clock"])
            continue
        last[(r["client"], r["seq"])] = r
    ops = []
    for key in sorted(last):
        op = dict(last[key])
        if op["result"] == "pending":
            op["end"] = INF
        ops.append(op)
    return ops, clocks


def mutation_outcome(op):
    """"ok", "maybe" or "failed" for a write, append or create."""
    if op["result"] == "ok":
        return "ok"
    if op["result"] == "pending":
        return "maybe"
    if op.get("phase") == "open":
        return "failed"
    if op["errno"] in DEFINITE_FAIL:
        return "failed"
    if op["op"] == "create" and op.get("phase") == "create" and op["errno"] == "ENOENT":
        return "failed"
    return "maybe"


def create_expectation(op):
    """(exists, contents) for a create: exists is "yes", "maybe" or "no";
    contents the set of contents it may have if it exists."""
    tok = op["value"] + "\n"
    out = mutation_outcome(op)
    if out == "ok":
        return "yes", {tok}
    if op["result"] == "pending":
        return "maybe", {"", tok}
    if op.get("phase") == "write":
        # the file was created; its content was written or not
        return "yes", ({""} if out == "failed" else {"", tok})
    if out == "failed":
        return "no", set()
    if op["errno"] == "EEXIST":
        return "maybe", {"", tok}
    return "maybe", {""}


# --- the checker --------------------------------------------------------------------


class Checker:
    def __init__(self, ops, meta, finals, faults=(), anomalies=(), clocks=(), max_steps=3_000_000):
        self.ops = ops
        self.meta = meta
        self.finals = finals  # {stage: {node: dump}}
        self.faults = list(faults)
        self.driver_anomalies = list(anomalies)
        self.clocks = list(clocks)
        self.max_steps = max_steps
        self.violations = []
        self.anomalies = []
        self.stats = {}
        starts = [o["start"] for o in ops]
        self.t0 = min(starts) if starts else 0
        ends = [o["end"] for o in ops if o["end"] != INF]
        self.t_final = max(ends + starts + [0]) + 1
        self.stages = sorted(finals)
        # the nemesis' events on the clients' clock (CLOCK_MONOTONIC)
        offs = sorted(c["real"] - c["mono"] for c in self.clocks)
        self.offset = offs[len(offs) // 2] if offs else None
        self.fault_spans = self.spans()
        self.final_reads = []  # (stage, node, dump) in a fixed order
        for st in self.stages:
            for node in sorted(finals[st]):
                self.final_reads.append((st, node, finals[st][node]))

    def spans(self):
        """[(start, end, text)] of the faults, in monotonic ns."""
        if self.offset is None:
            return []
        open_, out = {}, []
        for f in self.faults:
            t = f["real"] - self.offset
            if f.get("event") == "start":
                open_[f["id"]] = (t, "%s %s%s" % (f["type"], f["targets"], " (leader)" if f.get("detail") else ""))
            elif f.get("event") == "stop" and f["id"] in open_:
                t0, text = open_.pop(f["id"])
                out.append((t0, t, text))
        for t0, text in open_.values():
            out.append((t0, INF, text))
        return sorted(out)

    def faults_around(self, ops):
        ts = [o["start"] for o in ops if o] + [o["end"] for o in ops if o and o["end"] != INF]
        if not ts or not self.fault_spans:
            return []
        lo, hi = min(ts) - 2 * 10**9, max(ts) + 10**9
        return ["fault %s [%s .. %s]" % (text, self.fmt_t(a), self.fmt_t(b))
                for a, b, text in self.fault_spans if a <= hi and b >= lo]

    # --- reporting ---

    def fmt_t(self, t):
        if t in (INF, None):
            return "never"
        if t == NEG:
            return "-inf"
        return "%+.3fs" % ((t - self.t0) / 1e9)

    def fmt(self, op):
        if op is None:
            return "(initial value)"
        s = "c%s#%s on %s: %s %s" % (op.get("client"), op.get("seq"), op.get("node"), op["op"], op["path"])
        if "value" in op:
            s += " value=%s" % op["value"]
        s += " [%s .. %s] %s" % (self.fmt_t(op["start"]), self.fmt_t(op["end"]), op["result"])
        if op.get("errno"):
            s += " %s in %s" % (op["errno"], op.get("phase"))
        return s

    def violation(self, kind, msg, ops=()):
        self.violations.append({"kind": kind, "message": msg,
                                "ops": [self.fmt(o) for o in ops] + self.faults_around(list(ops))})

    def anomaly(self, kind, msg):
        self.anomalies.append({"kind": kind, "message": msg})

    # --- the checks ---

    def run(self):
        self.check_errnos()
        self.check_registers()
        self.check_logs()
        self.check_creates()
        self.check_nodes_agree()
        self.check_driver()
        self.collect_stats()
        return not self.violations

    def check_errnos(self):
        unexpected = collections.defaultdict(list)
        for op in self.ops:
            if op["result"] != "error":
                continue
            e = op["errno"]
            if op["op"] == "create" and e == "EEXIST":
                self.violation("create-twice", "a create of a unique name failed with EEXIST: "
                               "the name existed before its own create (a request applied twice, "
                               "or an outcome lost)", [op])
            elif e not in EXPECTED_ERRNOS:
                unexpected[(op["op"], op.get("phase"), e)].append(op)
            if op.get("close_errno"):
                self.anomaly("close-error", "close failed with %s after a successful %s: %s" % (
                    op["close_errno"], op["op"], self.fmt(op)))
        for (o, phase, e), lst in sorted(unexpected.items()):
            self.violation("unexpected-errno", "%d %s failed with %s in %s (no fault explains it)" % (
                len(lst), o, e, phase), lst[:3])

    # registers

    def check_registers(self):
        regs = self.meta.get("registers", {})
        paths = sorted(set(regs) | {o["path"] for o in self.ops if o["op"] in ("write",) + REGISTER_READS})
        writes_all = {}
        for o in self.ops:
            if o["op"] == "write":
                if o["value"] in writes_all:
                    self.violation("bad-history", "token %s written twice" % o["value"], [o, writes_all[o["value"]]])
                writes_all[o["value"]] = o
        self.lin_results = {}
        for path in paths:
            self.check_register(path, regs.get(path, "init"), writes_all)

    def check_register(self, path, init, writes_all):
        writes = [o for o in self.ops if o["op"] == "write" and o["path"] == path]
        by_value = {o["value"]: o for o in writes}
        outcome = {o["value"]: mutation_outcome(o) for o in writes}
        reads = [o for o in self.ops if o["op"] in REGISTER_READS and o["path"] == path and o["result"] == "ok"]
        finals = []
        for st, node, dump in self.final_reads:
            v = dump.get("registers", {}).get(path)
            if v is None:
                self.violation("file-missing", "%s is missing on %s (%s)" % (path, node, st))
                continue
            finals.append({"op": "final", "path": path, "node": node, "stage": st, "value": v,
                           "start": self.t_final, "end": self.t_final + 1, "result": "ok",
                           "client": "-", "seq": st})

        def w_start(v):
            return NEG if v == init else by_value[v]["start"]

        def w_end(v):
            if v == init:
                return NEG
            return by_value[v]["end"] if outcome[v] == "ok" else INF

        # values: written here, not failed, not from the future
        good = []
        for r in reads + finals:
            v = r["value"]
            if v == init:
                good.append(r)
            elif v.startswith("CORRUPT"):
                self.violation("value-never-written", "%s read content that is no whole value of "
                               "the file (torn or mixed): %s" % (path, v), [r])
            elif v not in by_value:
                other = writes_all.get(v)
                self.violation("value-never-written", "%s read %s, which was never written %s" % (
                    path, v, "to this file (it was written to %s)" % other["path"] if other else "anywhere"),
                    [r] + ([other] if other else []))
            elif outcome[v] == "failed":
                w = by_value[v]
                self.violation("failed-write-visible", "%s read %s, whose write failed with %s "
                               "(in %s): a failed mutation changed something" % (
                                   path, v, w.get("errno"), w.get("phase")), [r, w])
            elif r["end"] < by_value[v]["start"]:
                self.violation("read-from-future", "%s read %s before its write began" % (path, v),
                               [r, by_value[v]])
            else:
                good.append(r)

        # lost / stale: a linearizable read older than a write acknowledged before it began
        ok_writes = sorted((o for o in writes if outcome[o["value"]] == "ok"), key=lambda o: o["end"])
        ends = [o["end"] for o in ok_writes]
        pmax = []  # prefix: the ok write with the latest start
        for o in ok_writes:
            pmax.append(o if not pmax or o["start"] > pmax[-1]["start"] else pmax[-1])
        for r in good:
            if r["op"] not in ("read_sync", "final"):
                continue
            k = bisect.bisect_left(ends, r["start"])
            if k == 0:
                continue
            newer = pmax[k - 1]
            if w_end(r["value"]) < newer["start"]:
                kind = "lost-write" if r["op"] == "final" else "stale-read"
                self.violation(kind, "%s: %s returned %s although %s was acknowledged before it began"
                               " (and began after %s's write had ended)" % (
                                   path, "the final state on %s (%s)" % (r["node"], r["stage"])
                                   if r["op"] == "final" else "an fsync'ed read", r["value"],
                                   newer["value"], r["value"]),
                               [r, by_value.get(r["value"]), newer])

        # a node never goes back: reads there are no older than what it
        # returned or acknowledged before (read-your-writes, monotonic reads)
        by_node = collections.defaultdict(list)
        for r in good:
            if r["op"] != "final":
                by_node[r["node"]].append(("r", r))
        for o in ok_writes:
            by_node[o["node"]].append(("w", o))
        for node, items in by_node.items():
            # a "floor" item: something node is known to hold after item.end
            floors = []
            for typ, o in items:
                if typ == "w":
                    floors.append((o["end"], o["start"], o))
                else:
                    floors.append((o["end"], w_start(o["value"]), o))
            floors.sort(key=lambda x: x[0])
            fends = [f[0] for f in floors]
            fmax = []
            for f in floors:
                fmax.append(f if not fmax or f[1] > fmax[-1][1] else fmax[-1])
            for typ, r in items:
                if typ != "r":
                    continue
                k = bisect.bisect_left(fends, r["start"])
                if k == 0:
                    continue
                _, fstart, fop = fmax[k - 1]
                if w_end(r["value"]) < fstart:
                    self.violation("node-went-back", "%s on %s: read %s after the node had %s %s, "
                                   "whose write began after %s's had ended" % (
                                       path, node, r["value"],
                                       "acknowledged" if fop["op"] == "write" else "returned",
                                       fop["value"], r["value"]),
                                   [r, fop, by_value.get(r["value"])])

        # linearizability of writes, fsync'ed reads and the final value
        observed = collections.defaultdict(lambda: INF)
        for r in good:
            v = r["value"]
            observed[v] = min(observed[v], r["end"])
        lin_ops, src = [], []
        for o in writes:
            v = o["value"]
            oc = outcome[v]
            if oc == "failed":
                continue
            if oc == "maybe" and v not in observed:
                continue  # never seen: as if it took effect last, or never
            end = o["end"] if oc == "ok" else INF
            end = max(o["start"], min(end, observed.get(v, INF)))
            lin_ops.append((o["start"], end, "w", v))
            src.append(o)
        first_final = next((r for r in good if r["op"] == "final"), None)
        for r in good:
            if r["op"] == "read_sync" or r is first_final:
                lin_ops.append((r["start"], r["end"], "r", r["value"]))
                src.append(r)
        verdict, info = linearizable(lin_ops, init, self.max_steps)
        self.lin_results[path] = {"verdict": {True: "ok", False: "NOT linearizable", None: "unknown"}[verdict],
                                  "ops": len(lin_ops), "steps": info["steps"]}
        if verdict is None:
            self.anomaly("linearizability-unknown", "%s: the search gave up after %d steps (%d operations)"
                         % (path, info["steps"], len(lin_ops)))
        elif verdict is False:
            stuck = src[info["stuck"]]
            prefix = [src[i] for i in info["prefix"]]
            conc = [o for o in src if o is not stuck and o["start"] <= stuck["end"] and o["end"] >= stuck["start"]]
            self.violation("not-linearizable", "%s: the writes, fsync'ed reads and final value are not "
                           "linearizable: after %d operations (the last ones first below; value then %s) "
                           "no order places %s; %d operations overlap it" % (
                               path, len(prefix), info["state"], self.fmt(stuck), len(conc)),
                           [stuck] + prefix[::-1][:6] + conc[:10])

    # logs

    def check_logs(self):
        paths = sorted(set(self.meta.get("logs", [])) |
                       {o["path"] for o in self.ops if o["op"] in ("append",) + LOG_READS})
        appends_all = {o["value"]: o for o in self.ops if o["op"] == "append"}
        for path in paths:
            self.check_log(path, appends_all)

    def check_log(self, path, appends_all):
        appends = {o["value"]: o for o in self.ops if o["op"] == "append" and o["path"] == path}
        outcome = {v: mutation_outcome(o) for v, o in appends.items()}
        ref = None
        for st, node, dump in self.final_reads:
            fin = dump.get("logs", {}).get(path)
            if fin is None:
                self.violation("file-missing", "%s is missing on %s (%s)" % (path, node, st))
                continue
            lines = fin["lines"]
            if ref is None:
                ref = lines
            if fin.get("torn"):
                self.violation("torn-line", "%s on %s (%s) ends in the middle of a line: %r" % (
                    path, node, st, lines[-1:]))
            counts = collections.Counter(lines)
            for line, c in counts.items():
                o = appends.get(line)
                if o is None:
                    other = appends_all.get(line)
                    self.violation("value-never-written", "%s on %s (%s) holds the line %r, never "
                                   "appended %s" % (path, node, st, line, "to it (appended to %s)" % other["path"]
                                                    if other else "anywhere"), [other] if other else [])
                elif outcome[line] == "failed":
                    self.violation("failed-write-visible", "%s on %s (%s) holds %r, whose append failed "
                                   "with %s" % (path, node, st, line, o.get("errno")), [o])
                elif c > 1:
                    self.violation("applied-twice", "%s on %s (%s) holds %r %d times" % (
                        path, node, st, line, c), [o])
            lost = [o for v, o in appends.items() if outcome[v] == "ok" and v not in counts]
            if lost:
                self.violation("lost-write", "%s on %s (%s): %d acknowledged lines missing" % (
                    path, node, st, len(lost)), lost[:5])
        if ref is None:
            return
        idx = {}
        for i, line in enumerate(ref):
            idx.setdefault(line, i)
        # acknowledged one after another: in that order
        oks = sorted((o for v, o in appends.items() if outcome[v] == "ok" and v in idx), key=lambda o: o["end"])
        oends = [o["end"] for o in oks]
        omax = []
        for o in oks:
            omax.append(o if not omax or idx[o["value"]] > idx[omax[-1]["value"]] else omax[-1])
        for v, b in appends.items():
            if v not in idx:
                continue
            k = bisect.bisect_left(oends, b["start"])
            if k and idx[omax[k - 1]["value"]] > idx[v]:
                a = omax[k - 1]
                self.violation("out-of-order", "%s: %s is before %s, though its append began after "
                               "the other was acknowledged" % (path, v, a["value"]), [b, a])
        # prefixes of the final log
        prefix_sha = []
        h = hashlib.sha256()
        prefix_sha.append(h.hexdigest())
        for line in ref:
            h.update((line + "\n").encode())
            prefix_sha.append(h.hexdigest())
        start_max = [NEG]  # latest start of an append among the first n lines
        for line in ref:
            o = appends.get(line)
            start_max.append(max(start_max[-1], o["start"] if o else NEG))
        floor_any = self.floor_index(oks, idx)
        reads = sorted((o for o in self.ops if o["op"] in LOG_READS and o["path"] == path and o["result"] == "ok"),
                       key=lambda o: o["start"])
        by_node = collections.defaultdict(list)
        for r in reads:
            lg = r["log"]
            n = lg["lines"]
            if lg.get("torn"):
                self.violation("torn-line", "%s: a read ended in the middle of a line" % path, [r])
                continue
            if n > len(ref) or prefix_sha[n] != lg["sha"]:
                self.violation("log-divergence", "%s: a read of %d lines (ending %s) is not a prefix of "
                               "the final log (%d lines, ending %s)" % (path, n, lg.get("tail"), len(ref),
                                                                        ref[max(0, min(n, len(ref)) - 3):n]), [r])
                continue
            if start_max[n] > r["end"]:
                self.violation("read-from-future", "%s: a read holds a line whose append began after "
                               "the read ended" % path, [r])
            need, who = floor_any(r["start"]) if r["op"] == "read_log_sync" else (-1, None)
            if need >= n:
                self.violation("stale-read", "%s: an fsync'ed read of %d lines misses %s (line %d), "
                               "acknowledged before it began" % (path, n, who["value"], need + 1), [r, who])
            by_node[r["node"]].append(r)
        for node, rs in by_node.items():
            floor_node = self.floor_index([o for o in oks if o["node"] == node], idx)
            ends = sorted(rs, key=lambda o: o["end"])
            eends = [o["end"] for o in ends]
            emax = []
            for o in ends:
                emax.append(o if not emax or o["log"]["lines"] > emax[-1]["log"]["lines"] else emax[-1])
            for r in rs:
                n = r["log"]["lines"]
                need, who = floor_node(r["start"])
                if need >= n:
                    self.violation("node-went-back", "%s on %s: a read of %d lines misses %s (line %d), "
                                   "acknowledged on this node before it began" % (
                                       path, node, n, who["value"], need + 1), [r, who])
                k = bisect.bisect_left(eends, r["start"])
                if k and emax[k - 1]["log"]["lines"] > n:
                    self.violation("node-went-back", "%s on %s: a read of %d lines after one of %d" % (
                        path, node, n, emax[k - 1]["log"]["lines"]), [r, emax[k - 1]])

    @staticmethod
    def floor_index(oks, idx):
        """f(t): (the highest final index among oks acknowledged before t,
        that op), or (-1, None)."""
        srt = sorted(oks, key=lambda o: o["end"])
        ends = [o["end"] for o in srt]
        best = []
        for o in srt:
            best.append(o if not best or idx[o["value"]] > idx[best[-1]["value"]] else best[-1])

        def f(t):
            k = bisect.bisect_left(ends, t)
            if k == 0:
                return -1, None
            return idx[best[k - 1]["value"]], best[k - 1]
        return f

    # creates

    def check_creates(self):
        creates = {o["path"]: o for o in self.ops if o["op"] == "create"}
        expect = {p: create_expectation(o) for p, o in creates.items()}
        for st, node, dump in self.final_reads:
            names = dump.get("create_names", [])
            if len(names) != len(set(names)):
                dups = [n for n, c in collections.Counter(names).items() if c > 1]
                self.violation("applied-twice", "c/ on %s (%s) lists %d names more than once: %s" % (
                    node, st, len(dups), dups[:5]))
            contents = dump.get("creates", {})
            for path, content in sorted(contents.items()):
                o = creates.get(path)
                if o is None:
                    self.violation("value-never-written", "%s exists on %s (%s) but was never created" % (
                        path, node, st))
                    continue
                exists, allowed = expect[path]
                if exists == "no":
                    self.violation("failed-write-visible", "%s exists on %s (%s) though its create failed "
                                   "with %s" % (path, node, st, o.get("errno")), [o])
                elif content not in allowed:
                    self.violation("value-never-written", "%s on %s (%s) holds %r, expected one of %s" % (
                        path, node, st, content[:40], sorted(allowed)), [o])
            lost = [o for p, o in creates.items() if expect[p][0] == "yes" and p not in contents]
            if lost:
                self.violation("lost-write", "c/ on %s (%s): %d acknowledged creates missing" % (
                    node, st, len(lost)), lost[:5])
        oks = sorted((o for p, o in creates.items() if mutation_outcome(o) == "ok"), key=lambda o: o["end"])
        lists = sorted((o for o in self.ops if o["op"] in LISTS and o["result"] == "ok"), key=lambda o: o["start"])
        by_node = collections.defaultdict(list)
        oends = [o["end"] for o in oks]
        for r in lists:
            names = set("c/" + n for n in r["names"])
            if len(names) != len(r["names"]):
                self.violation("applied-twice", "a listing of c/ shows a name twice", [r])
            for p in sorted(names):
                o = creates.get(p)
                if o is None:
                    self.violation("value-never-written", "a listing of c/ shows %s, never created" % p, [r])
                elif expect[p][0] == "no":
                    self.violation("failed-write-visible", "a listing of c/ shows %s, whose create failed "
                                   "with %s" % (p, o.get("errno")), [r, o])
                elif o["start"] > r["end"]:
                    self.violation("read-from-future", "a listing shows %s before its create began" % p, [r, o])
            if r["op"] == "list_sync":
                k = bisect.bisect_left(oends, r["start"])
                missing = [o for o in oks[:k] if o["path"] not in names]
                if missing:
                    self.violation("stale-read", "an fsync'ed listing of c/ misses %d creates acknowledged "
                                   "before it began" % len(missing), [r] + missing[:3])
            by_node[r["node"]].append((r, names))
        for node, rs in by_node.items():
            mine = [o for o in oks if o["node"] == node]
            mends = [o["end"] for o in mine]
            done = sorted(rs, key=lambda x: x[0]["end"])
            dends = [x[0]["end"] for x in done]
            dmax = []
            for x in done:
                dmax.append(x if not dmax or len(x[1]) > len(dmax[-1][1]) else dmax[-1])
            for r, names in rs:
                k = bisect.bisect_left(mends, r["start"])
                missing = [o for o in mine[:k] if o["path"] not in names]
                if missing:
                    self.violation("node-went-back", "a listing of c/ on %s misses %d creates acknowledged "
                                   "on this node before it began" % (node, len(missing)), [r] + missing[:3])
                k = bisect.bisect_left(dends, r["start"])
                if k and not dmax[k - 1][1] <= names:
                    gone = sorted(dmax[k - 1][1] - names)
                    self.violation("node-went-back", "a listing of c/ on %s misses %d names an earlier "
                                   "listing there showed: %s" % (node, len(gone), gone[:3]), [r, dmax[k - 1][0]])

    # nodes agree

    def check_nodes_agree(self):
        ref = None
        for st, node, dump in self.final_reads:
            if ref is None:
                ref = (st, node, dump)
                continue
            for part in ("registers", "logs", "creates", "create_names"):
                if dump.get(part) != ref[2].get(part):
                    a, b = ref[2].get(part), dump.get(part)
                    diff = ""
                    if isinstance(a, dict) and isinstance(b, dict):
                        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                        diff = ": %d differ, e.g. %s" % (len(keys), keys[:3])
                    self.violation("divergence", "%s of %s (%s) differ from %s's (%s)%s" % (
                        part, node, st, ref[1], ref[0], diff))

    # driver

    def check_driver(self):
        for a in self.driver_anomalies:
            msg = "%s%s" % ("%s: " % a["node"] if a.get("node") else "", a.get("detail", ""))
            if a.get("fatal"):
                self.violation(a["kind"], msg)
            else:
                self.anomaly(a["kind"], msg)

    # stats

    def collect_stats(self):
        by_op = collections.defaultdict(collections.Counter)
        errnos = collections.Counter()
        lat = collections.defaultdict(list)
        for o in self.ops:
            by_op[o["op"]][o["result"]] += 1
            if o["result"] == "error":
                errnos[o["errno"]] += 1
            if o["end"] != INF:
                lat[o["op"]].append(o["end"] - o["start"])
        latency = {}
        for op, ls in lat.items():
            ls.sort()
            latency[op] = {"p50_ms": round(ls[len(ls) // 2] / 1e6, 2),
                           "p99_ms": round(ls[min(len(ls) - 1, len(ls) * 99 // 100)] / 1e6, 2),
                           "max_ms": round(ls[-1] / 1e6, 2)}
        outcomes = collections.Counter()
        for o in self.ops:
            if o["op"] in ("write", "append", "create"):
                outcomes[mutation_outcome(o)] += 1
        faults = collections.Counter(f["type"] for f in self.faults if f.get("event") == "start")
        slow = sorted((o for o in self.ops if o["end"] != INF and o["end"] - o["start"] > SLOW_OP_NS),
                      key=lambda o: o["start"] - o["end"])
        if slow:
            self.anomaly("slow-op", "%d operations took over %d s, the slowest: %s" % (
                len(slow), SLOW_OP_NS // 10**9, "; ".join(
                    "%s (%.1f s)" % (self.fmt(o), (o["end"] - o["start"]) / 1e9) for o in slow[:3])))
        pending = [o for o in self.ops if o["end"] == INF]
        if pending:
            self.anomaly("no-answer", "%d operations never ended (their client was killed): %s" % (
                len(pending), "; ".join(self.fmt(o) for o in pending[:3])))
        # the longest time with no acknowledged mutation (unavailability)
        acks = sorted(o["end"] for o in self.ops if o["op"] in ("write", "append", "create")
                      and o["result"] == "ok")
        gaps = [(b - a, a) for a, b in zip(acks, acks[1:])]
        gap = max(gaps) if gaps else (0, 0)
        self.stats = {
            "operations": len(self.ops),
            "by_op": {k: dict(v) for k, v in sorted(by_op.items())},
            "mutations": dict(outcomes),
            "errnos": dict(errnos.most_common()),
            "latency": latency,
            "faults": dict(faults),
            "longest_without_ack_s": round(gap[0] / 1e9, 2),
            "longest_without_ack_at": self.fmt_t(gap[1]),
            "linearizability": self.lin_results,
            "duration_s": round((self.t_final - self.t0) / 1e9, 1) if self.ops else 0,
        }

    def summary(self):
        return {"ok": not self.violations, "seed": self.meta.get("seed"), "nodes": self.meta.get("nodes"),
                "stats": self.stats, "violations": self.violations, "anomalies": self.anomalies}

    def report(self, out=sys.stdout):
        s = self.stats
        p = lambda *a: print(*a, file=out)  # noqa: E731
        p("checker: seed %s, %s nodes, %d operations over %.1f s" % (
            self.meta.get("seed"), self.meta.get("nodes"), s["operations"], s["duration_s"]))
        for op, c in s["by_op"].items():
            p("  %-14s %s   latency p50 %s ms, p99 %s ms, max %s ms" % (
                op, " ".join("%s=%d" % kv for kv in sorted(c.items())),
                *(s["latency"].get(op, {}).get(k, "-") for k in ("p50_ms", "p99_ms", "max_ms"))))
        p("  mutations: %s" % " ".join("%s=%d" % kv for kv in sorted(s["mutations"].items())))
        p("  errnos: %s" % (" ".join("%s=%d" % kv for kv in s["errnos"].items()) or "none"))
        p("  faults: %s" % (" ".join("%s=%d" % kv for kv in sorted(s["faults"].items())) or "none"))
        p("  longest time without an acknowledged mutation: %.2f s (from %s)" % (
            s["longest_without_ack_s"], s["longest_without_ack_at"]))
        for path, r in sorted(s["linearizability"].items()):
            p("  %s: %s (%d operations, %d steps)" % (path, r["verdict"], r["ops"], r["steps"]))
        for a in self.anomalies:
            p("  ANOMALY %s: %s" % (a["kind"], a["message"]))
        for v in self.violations:
            p("  VIOLATION %s: %s" % (v["kind"], v["message"]))
            for line in v["ops"]:
                p("      %s" % line)
        p("checker: %s (%d violations, %d anomalies)" % (
            "OK" if not self.violations else "FAILED", len(self.violations), len(self.anomalies)))


def load_run(run_dir):
    with open(os.path.join(run_dir, "meta.json")) as f:
        meta = json.load(f)
    records = []
    for path in sorted(glob.glob(os.path.join(run_dir, "history", "*.jsonl"))):
        records += load_jsonl(path)
    ops, clocks = load_history(records)
    finals = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "final", "*", "*.json"))):
        stage = os.path.basename(os.path.dirname(path))
        node = os.path.basename(path)[:-5]
        with open(path) as f:
            finals.setdefault(stage, {})[node] = json.load(f)
    faults, anomalies = [], []
    if os.path.exists(os.path.join(run_dir, "faults.jsonl")):
        faults = load_jsonl(os.path.join(run_dir, "faults.jsonl"))
    if os.path.exists(os.path.join(run_dir, "anomalies.jsonl")):
        anomalies = load_jsonl(os.path.join(run_dir, "anomalies.jsonl"))
    return ops, meta, finals, faults, anomalies, clocks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("--max-steps", type=int, default=3_000_000)
    args = ap.parse_args()
    try:
        ops, meta, finals, faults, anomalies, clocks = load_run(args.run_dir)
    except (OSError, ValueError) as e:
        print("checker: cannot read %s: %s" % (args.run_dir, e), file=sys.stderr)
        return 2
    if not finals:
        print("checker: no final states in %s/final: nothing to check the history against" % args.run_dir,
              file=sys.stderr)
        return 2
    c = Checker(ops, meta, finals, faults, anomalies, clocks, args.max_steps)
    ok = c.run()
    c.report()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(c.summary(), f, indent=1, sort_keys=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
