#!/usr/bin/env python3
"""Unit tests of the fault run's checker (tests/faults/checker.py) on small
hand-made histories: the checker must accept what the contract allows
(maybe-writes taking effect late or never, stale plain reads elsewhere)
and report what it does not (lost, invented, duplicated, reordered or
non-linearizable results).

    python3 -m unittest discover -s tests/faults -p 'test_checker.py'
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checker  # noqa: E402
from checker import INF, Checker, linearizable  # noqa: E402


def W(s, e, v):
    return (s, e, "w", v)


def R(s, e, v):
    return (s, e, "r", v)


class Linearizable(unittest.TestCase):
    def verdict(self, ops, init="0"):
        v, info = linearizable(ops, init)
        return v

    def test_sequential(self):
        self.assertTrue(self.verdict([W(0, 10, "1"), R(20, 30, "1"), W(40, 50, "2"), R(60, 70, "2")]))

    def test_initial_value(self):
        self.assertTrue(self.verdict([R(0, 10, "0"), W(20, 30, "1"), R(40, 50, "1")]))

    def test_stale_read_is_not_linearizable(self):
        v, info = linearizable([W(0, 10, "1"), W(20, 30, "2"), R(40, 50, "1")], "0")
        self.assertFalse(v)
        self.assertEqual(info["stuck"], 2)  # the read cannot be placed

    def test_concurrent_write_either_value(self):
        for seen in ("0", "1"):
            self.assertTrue(self.verdict([W(0, 100, "1"), R(10, 20, seen)]), seen)

    def test_concurrent_writes_any_order(self):
        ops = [W(0, 100, "1"), W(0, 100, "2"), R(10, 20, "2"), R(30, 40, "1")]
        self.assertTrue(self.verdict(ops))

    def test_value_cannot_come_back(self):
        # 2, then 1, then 2 again with one write of each: impossible
        ops = [W(0, 100, "1"), W(0, 100, "2"), R(10, 20, "2"), R(30, 40, "1"), R(50, 60, "2")]
        self.assertFalse(self.verdict(ops))

    def test_read_before_the_write_began(self):
        self.assertFalse(self.verdict([R(0, 10, "1"), W(20, 30, "1")]))

    def test_maybe_write_taking_effect_late(self):
        # the maybe-write (end INF) takes effect after the first read
        ops = [W(0, 10, "1"), W(5, INF, "2"), R(20, 30, "1"), R(40, 50, "2")]
        self.assertTrue(self.verdict(ops))

    def test_maybe_write_never_taking_effect(self):
        ops = [W(0, 10, "1"), W(5, INF, "2"), R(20, 30, "1"), R(40, 50, "1")]
        self.assertTrue(self.verdict(ops))

    def test_maybe_write_cannot_take_effect_twice(self):
        # 2 is seen, then the older 1, then 2 again: the maybe-write would
        # have to take effect twice
        ops = [W(0, 10, "1"), W(5, INF, "2"), R(100, 110, "2"), R(120, 130, "1"), R(140, 150, "2")]
        self.assertFalse(self.verdict(ops))

    def test_maybe_write_before_an_acknowledged_one(self):
        # 2 (maybe) read, then 1 (acknowledged before 2 began) read again:
        # 1 must precede 2, so 1 cannot come back
        ops = [W(0, 10, "1"), W(20, INF, "2"), R(100, 110, "2"), R(120, 130, "1")]
        self.assertFalse(self.verdict(ops))

    def test_gives_up(self):
        ops = [W(0, 1000, str(i)) for i in range(12)] + [R(2000, 2001, "x")]
        v, info = linearizable(ops, "0", max_steps=50)
        self.assertIsNone(v)


# --- whole checker ------------------------------------------------------------------

class History:
    """A hand-made run: operations, final dumps, meta."""

    def __init__(self, nodes=("n1", "n2", "n3")):
        self.ops = []
        self.nodes = nodes
        self.seq = 0
        self.registers = {"r/k0": "init"}
        self.logs = ["a/log0"]
        self.final = {n: {"registers": {"r/k0": "init"}, "logs": {"a/log0": {"lines": [], "torn": False}},
                          "creates": {}, "create_names": []} for n in nodes}

    def op(self, client, node, op, path, start, end, value=None, result="ok", errno=None, phase=None, **kw):
        self.seq += 1
        o = {"client": client, "seq": self.seq, "node": node, "op": op, "path": path,
             "start": start, "end": INF if result == "pending" else end, "result": result}
        if value is not None:
            o["value"] = value
        if errno:
            o["errno"] = errno
            o["phase"] = phase or "write"
        o.update(kw)
        self.ops.append(o)
        return o

    def write(self, client, node, start, end, value, path="r/k0", **kw):
        return self.op(client, node, "write", path, start, end, value, **kw)

    def read(self, client, node, start, end, value, sync=True, path="r/k0"):
        return self.op(client, node, "read_sync" if sync else "read", path, start, end, value)

    def set_final(self, **parts):
        for n in self.nodes:
            for k, v in parts.items():
                if k == "register":
                    self.final[n]["registers"]["r/k0"] = v
                elif k == "log":
                    self.final[n]["logs"]["a/log0"] = {"lines": list(v), "torn": False}
                elif k == "creates":
                    self.final[n]["creates"] = dict(v)
                    self.final[n]["create_names"] = sorted(p[2:] for p in v)

    def check(self):
        meta = {"seed": "t", "nodes": len(self.nodes), "registers": self.registers, "logs": self.logs}
        c = Checker(self.ops, meta, {"1-after-faults": self.final})
        c.run()
        return c

    def kinds(self):
        return sorted({v["kind"] for v in self.check().violations})


class Registers(unittest.TestCase):
    def test_clean(self):
        h = History()
        h.write(1, "n1", 0, 10, "c1.1")
        h.read(2, "n2", 20, 30, "c1.1")
        h.write(2, "n2", 40, 50, "c2.2")
        h.read(1, "n3", 25, 35, "c1.1", sync=False)
        h.set_final(register="c2.2")
        self.assertEqual(h.kinds(), [])

    def test_maybe_writes_that_happened_or_not(self):
        h = History()
        h.write(1, "n1", 0, 10, "c1.1")
        h.write(2, "n2", 5, 5000, "c2.1", result="error", errno="ETIMEDOUT")
        h.write(3, "n3", 6, 0, "c3.1", result="pending")
        h.read(1, "n1", 20, 30, "c1.1")
        h.read(1, "n1", 40, 50, "c2.1")  # the timed-out write took effect late
        h.write(1, "n1", 60, 70, "c1.2", result="error", errno="ENOTCONN")  # never took effect
        h.set_final(register="c2.1")
        self.assertEqual(h.kinds(), [])

    def test_lost_acknowledged_write(self):
        h = History()
        h.write(1, "n1", 0, 10, "c1.1")
        h.write(2, "n2", 20, 30, "c2.1")
        h.set_final(register="c1.1")
        c = h.check()
        kinds = sorted({v["kind"] for v in c.violations})
        self.assertEqual(kinds, ["lost-write", "not-linearizable"])
        self.assertIn("c2.1", " ".join(v["message"] for v in c.violations))

    def test_stale_fsynced_read(self):
        h = History()
        h.write(1, "n1", 0, 10, "c1.1")
        h.write(1, "n1", 20, 30, "c1.2")
        h.read(2, "n2", 40, 50, "c1.1")
        h.set_final(register="c1.2")
        self.assertEqual(h.kinds(), ["not-linearizable", "stale-read"])

    def test_stale_plain_read_elsewhere_is_allowed(self):
        h = History()
        h.write(1, "n1", 0, 10, "c1.1")
        h.write(1, "n1", 20, 30, "c1.2")
        h.read(2, "n2", 40, 50, "c1.1", sync=False)
        h.set_final(register="c1.2")
        self.assertEqual(h.kinds(), [])

    def test_stale_plain_read_on_the_writing_node(self):
        h = History()
        h.write(1, "n1", 0, 10, "c1.1")
        h.write(1, "n1", 20, 30, "c1.2")
        h.read(2, "n1", 40, 50, "c1.1", sync=False)
        h.set_final(register="c1.2")
        self.assertEqual(h.kinds(), ["node-went-back"])

    def test_node_goes_back(self):
        h = History()
        h.write(1, "n1", 0, 10, "c1.1")
        h.write(1, "n1", 20, 30, "c1.2")
        h.read(2, "n2", 40, 50, "c1.2", sync=False)
        h.read(2, "n2", 60, 70, "c1.1", sync=False)
        h.set_final(register="c1.2")
        self.assertEqual(h.kinds(), ["node-went-back"])

    def test_not_linearizable_without_simpler_clue(self):
        # concurrent writes; fsync'ed reads see 2, 1, 2: no single order
        h = History()
        h.write(1, "n1", 0, 100, "c1.1")
        h.write(2, "n2", 0, 100, "c2.1")
        h.read(3, "n3", 10, 20, "c2.1")
        h.read(3, "n3", 30, 40, "c1.1")
        h.read(3, "n3", 50, 60, "c2.1")
        h.set_final(register="c2.1")
        c = h.check()
        self.assertEqual(sorted({v["kind"] for v in c.violations}), ["not-linearizable"])
        self.assertEqual(c.lin_results["r/k0"]["verdict"], "NOT linearizable")

    def test_value_never_written(self):
        h = History()
        h.write(1, "n1", 0, 10, "c1.1")
        h.read(2, "n2", 20, 30, "c9.9", sync=False)
        h.read(2, "n2", 40, 50, "CORRUPT:24:abc:b'c1.1:c2'")
        h.set_final(register="c1.1")
        self.assertEqual(h.kinds(), ["value-never-written"])

    def test_erofs_write_visible(self):
        h = History()
        h.write(1, "n1", 0, 10, "c1.1", result="error", errno="EROFS")
        h.set_final(register="c1.1")
        self.assertIn("failed-write-visible", h.kinds())

    def test_failed_open_never_visible(self):
        h = History()
        h.write(1, "n1", 0, 10, "c1.1", result="error", errno="ENOTCONN", phase="open")
        h.set_final(register="c1.1")
        self.assertIn("failed-write-visible", h.kinds())

    def test_read_from_the_future(self):
        h = History()
        h.read(2, "n2", 0, 10, "c1.1", sync=False)
        h.write(1, "n1", 20, 30, "c1.1")
        h.set_final(register="c1.1")
        self.assertEqual(h.kinds(), ["read-from-future"])

    def test_nodes_differ(self):
        h = History()
        h.write(1, "n1", 0, 10, "c1.1")
        h.set_final(register="c1.1")
        h.final["n3"]["registers"]["r/k0"] = "init"
        self.assertIn("divergence", h.kinds())


class Logs(unittest.TestCase):
    def append(self, h, client, node, s, e, tok, **kw):
        return h.op(client, node, "append", "a/log0", s, e, tok, **kw)

    def test_clean_with_maybe_lines(self):
        h = History()
        self.append(h, 1, "n1", 0, 10, "c1.1")
        self.append(h, 2, "n2", 5, 5000, "c2.1", result="error", errno="ETIMEDOUT")  # applied
        self.append(h, 3, "n3", 6, 5000, "c3.1", result="error", errno="ETIMEDOUT")  # not applied
        self.append(h, 1, "n1", 20, 30, "c1.2")
        h.set_final(log=["c1.1", "c2.1", "c1.2"])
        self.assertEqual(h.kinds(), [])

    def test_lost_duplicated_unknown_failed(self):
        h = History()
        self.append(h, 1, "n1", 0, 10, "c1.1")
        self.append(h, 1, "n1", 20, 30, "c1.2")
        self.append(h, 2, "n2", 0, 10, "c2.1", result="error", errno="EROFS")
        h.set_final(log=["c1.1", "c1.1", "c2.1", "c7.7"])
        self.assertEqual(h.kinds(), ["applied-twice", "failed-write-visible", "lost-write",
                                     "value-never-written"])

    def test_out_of_order(self):
        h = History()
        self.append(h, 1, "n1", 0, 10, "c1.1")
        self.append(h, 2, "n2", 20, 30, "c2.1")
        h.set_final(log=["c2.1", "c1.1"])
        self.assertEqual(h.kinds(), ["out-of-order"])

    def read_log(self, h, node, s, e, lines, sync=False):
        import hashlib
        data = "".join(x + "\n" for x in lines).encode()
        return h.op(9, node, "read_log_sync" if sync else "read_log", "a/log0", s, e,
                    log={"lines": len(lines), "sha": hashlib.sha256(data).hexdigest(), "tail": lines[-3:],
                         "torn": False})

    def test_reads_are_prefixes(self):
        h = History()
        self.append(h, 1, "n1", 0, 10, "c1.1")
        self.append(h, 2, "n2", 20, 30, "c2.1")
        self.read_log(h, "n3", 15, 16, ["c1.1"], sync=True)
        self.read_log(h, "n3", 40, 50, ["c1.1"])  # stale on n3: allowed
        h.set_final(log=["c1.1", "c2.1"])
        self.assertEqual(h.kinds(), [])

    def test_read_not_a_prefix(self):
        h = History()
        self.append(h, 1, "n1", 0, 10, "c1.1")
        self.append(h, 2, "n2", 0, 10, "c2.1")
        self.read_log(h, "n3", 15, 16, ["c2.1"])
        h.set_final(log=["c1.1", "c2.1"])
        self.assertEqual(h.kinds(), ["log-divergence"])

    def test_stale_fsynced_log_read(self):
        h = History()
        self.append(h, 1, "n1", 0, 10, "c1.1")
        self.append(h, 2, "n2", 20, 30, "c2.1")
        self.read_log(h, "n3", 40, 50, ["c1.1"], sync=True)
        h.set_final(log=["c1.1", "c2.1"])
        self.assertEqual(h.kinds(), ["stale-read"])

    def test_read_your_appends(self):
        h = History()
        self.append(h, 1, "n1", 0, 10, "c1.1")
        self.read_log(h, "n1", 20, 30, [])
        h.set_final(log=["c1.1"])
        self.assertEqual(h.kinds(), ["node-went-back"])


class Creates(unittest.TestCase):
    def create(self, h, client, node, s, e, tok, **kw):
        return h.op(client, node, "create", "c/" + tok, s, e, tok, **kw)

    def test_clean(self):
        h = History()
        self.create(h, 1, "n1", 0, 10, "c1.1")
        self.create(h, 2, "n2", 0, 10, "c2.1", result="error", errno="ETIMEDOUT", phase="create")
        self.create(h, 3, "n3", 0, 10, "c3.1", result="error", errno="ETIMEDOUT", phase="write")
        self.create(h, 3, "n3", 20, 30, "c3.2", result="error", errno="EROFS", phase="create")
        h.op(4, "n1", "list_sync", "c", 15, 16, names=["c1.1"])
        h.set_final(creates={"c/c1.1": "c1.1\n", "c/c2.1": "", "c/c3.1": "c3.1\n"})
        self.assertEqual(h.kinds(), [])

    def test_lost_and_failed_and_wrong_content(self):
        h = History()
        self.create(h, 1, "n1", 0, 10, "c1.1")
        self.create(h, 1, "n1", 20, 30, "c1.2")
        self.create(h, 2, "n2", 0, 10, "c2.1", result="error", errno="EROFS", phase="create")
        self.create(h, 3, "n3", 0, 10, "c3.1", result="error", errno="ETIMEDOUT", phase="create")
        h.set_final(creates={"c/c1.1": "c1.1\n", "c/c2.1": "", "c/c3.1": "c3.1\n"})
        self.assertEqual(h.kinds(), ["failed-write-visible", "lost-write", "value-never-written"])

    def test_eexist_on_a_unique_name(self):
        h = History()
        self.create(h, 1, "n1", 0, 10, "c1.1", result="error", errno="EEXIST", phase="create")
        h.set_final(creates={"c/c1.1": ""})
        self.assertEqual(h.kinds(), ["create-twice"])

    def test_stale_listing(self):
        h = History()
        self.create(h, 1, "n1", 0, 10, "c1.1")
        h.op(4, "n2", "list_sync", "c", 20, 30, names=[])
        h.op(4, "n1", "list", "c", 20, 30, names=[])
        h.set_final(creates={"c/c1.1": "c1.1\n"})
        self.assertEqual(h.kinds(), ["node-went-back", "stale-read"])


class Errnos(unittest.TestCase):
    def test_unexpected_errno(self):
        h = History()
        h.write(1, "n1", 0, 10, "c1.1", result="error", errno="EINVAL")
        self.assertEqual(h.kinds(), ["unexpected-errno"])

    def test_driver_anomalies(self):
        h = History()
        c = Checker(h.ops, {"registers": h.registers, "logs": h.logs}, {"s": h.final},
                    anomalies=[{"kind": "crash", "fatal": True, "node": "n2", "detail": "exit 139"},
                               {"kind": "kill9-stuck", "fatal": False, "node": "n1", "detail": "D state"}])
        c.run()
        self.assertEqual([v["kind"] for v in c.violations], ["crash"])
        self.assertEqual([a["kind"] for a in c.anomalies], ["kill9-stuck"])


class Simulated(unittest.TestCase):
    """Histories of a simulated linearizable register (each operation
    takes effect at a random point of its interval; a maybe-write at a
    random point after its start, or never): the checker accepts them all,
    and reports them once one read is made to return an overwritten value."""

    def simulate(self, seed, clients=4, per_client=60):
        import random
        rng = random.Random(seed)
        h = History()
        events = []  # (point, op, takes effect)
        for c in range(1, clients + 1):
            t = rng.randint(0, 5)
            for k in range(per_client):
                s = t + rng.randint(1, 20)
                e = s + (rng.randint(1, 15) if rng.random() > 0.05 else rng.randint(50, 400))
                node = "n%d" % rng.randint(1, 3)
                if rng.random() < 0.5:
                    tok = "c%d.%d" % (c, k)
                    r = rng.random()
                    if r < 0.1:  # timed out: maybe, perhaps late, perhaps never
                        o = h.write(c, node, s, e, tok, result="error", errno="ETIMEDOUT")
                        if rng.random() < 0.6:
                            events.append((rng.uniform(s, e + 500), o))
                    elif r < 0.15:  # EROFS: never
                        h.write(c, node, s, e, tok, result="error", errno="EROFS")
                    else:
                        events.append((rng.uniform(s, e), h.write(c, node, s, e, tok)))
                else:
                    events.append((rng.uniform(s, e), h.read(c, node, s, e, None)))
                t = e
        value = "init"
        for _, o in sorted(events, key=lambda x: x[0]):
            if o["op"] == "write":
                value = o["value"]
            else:
                o["value"] = value
        h.set_final(register=value)
        return h

    def test_linearizable_histories_pass(self):
        for seed in range(25):
            h = self.simulate(seed)
            c = h.check()
            self.assertEqual(c.violations, [], "seed %d" % seed)
            self.assertEqual(c.lin_results["r/k0"]["verdict"], "ok", "seed %d" % seed)

    def test_a_stale_read_is_found(self):
        found = 0
        for seed in range(25):
            h = self.simulate(seed)
            writes = sorted((o for o in h.ops if o["op"] == "write" and o["result"] == "ok"),
                            key=lambda o: o["end"])
            reads = [o for o in h.ops if o["op"] == "read_sync"]
            # a read that began after two acknowledged writes returns the older one
            for r in reads:
                done = [w for w in writes if w["end"] < r["start"]]
                if len(done) >= 2 and done[-1]["start"] > done[0]["end"] and r["value"] != done[0]["value"]:
                    r["value"] = done[0]["value"]
                    break
            else:
                continue
            found += 1
            kinds = {v["kind"] for v in h.check().violations}
            self.assertIn("not-linearizable", kinds, "seed %d" % seed)
        self.assertGreater(found, 10)


class Outcomes(unittest.TestCase):
    def test_outcomes(self):
        mk = lambda **kw: dict({"op": "write", "result": "error", "value": "x"}, **kw)  # noqa: E731
        self.assertEqual(checker.mutation_outcome(mk(result="ok")), "ok")
        self.assertEqual(checker.mutation_outcome(mk(result="pending")), "maybe")
        self.assertEqual(checker.mutation_outcome(mk(errno="ETIMEDOUT", phase="write")), "maybe")
        self.assertEqual(checker.mutation_outcome(mk(errno="EROFS", phase="write")), "failed")
        self.assertEqual(checker.mutation_outcome(mk(errno="ENOTCONN", phase="open")), "failed")
        self.assertEqual(checker.mutation_outcome(mk(errno="ENOTCONN", phase="write")), "maybe")


if __name__ == "__main__":
    unittest.main()
