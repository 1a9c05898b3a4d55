#!/usr/bin/env python3
"""The nemesis' plan for a fault run, derived from the seed alone.

    nemesis.py --seed S --nodes N --duration SECS [--kinds kill,pause,partition]

Prints one event per line, in time order, for tests/faults/test_faults.sh:

    AT EVENT ID KIND TARGETS FALLBACK

AT: seconds after the start of the fault phase; EVENT: start or stop;
KIND: kill (kill -9, restarted at stop with only --data and --mount),
pause (SIGSTOP, SIGCONT at stop) or partition (the targets' cables moved to
a bridge of their own, moved back at stop); TARGETS: node names separated
by commas, or "@leader" (the node the others see as leader when the fault
starts; FALLBACK, a node chosen now, if that one is already faulted or
unknown); FALLBACK is "-" otherwise. Stop lines repeat KIND and TARGETS.

At any time at most a minority of the nodes is faulted (one of 3, two of
5), so a majority can always elect a leader and commit: the run tests that
nothing is lost or invented, and that the cluster keeps serving. Every
fault ends by DURATION.
"""
import argparse
import random

# kind -> weight, (shortest, longest) duration in seconds
KINDS = {
    "kill": (3, (0.5, 6.0)),
    "pause": (2, (0.3, 6.0)),
    "partition": (3, (1.0, 10.0)),
}
LEADER_SHARE = 0.4  # of the single-node faults aimed at the current leader
GAP = (0.5, 4.0)    # between the starts of two faults


def plan(seed, nodes, duration, kinds):
    rng = random.Random("nemesis/%s" % seed)
    names = ["n%d" % i for i in range(1, nodes + 1)]
    max_faulted = (nodes - 1) // 2
    weights = [KINDS[k][0] for k in kinds]
    events = []
    active = []  # (end, targets)
    t = rng.uniform(2.0, 4.0)
    fid = 0
    while t < duration - 1.0:
        active = [a for a in active if a[0] > t]
        faulted = {n for _, ts in active for n in ts}
        cap = max_faulted - len(faulted)
        if cap <= 0:
            t = min(a[0] for a in active) + rng.uniform(*GAP) / 2
            continue
        kind = rng.choices(kinds, weights)[0]
        free = [n for n in names if n not in faulted]
        count = rng.randint(1, cap) if kind == "partition" else 1
        fallback = "-"
        if count == 1 and rng.random() < LEADER_SHARE:
            targets = ["@leader"]
            fallback = rng.choice(free)
        else:
            targets = sorted(rng.sample(free, count))
            reserved = set(targets)
        lo, hi = KINDS[kind][1]
        end = min(t + rng.uniform(lo, hi), duration)
        fid += 1
        tg = ",".join(targets)
        events.append((t, 1, "start", fid, kind, tg, fallback))
        events.append((end, 0, "stop", fid, kind, tg, fallback))
        # "@leader" resolves to any node not faulted then: no other fault
        # starts while it lasts
        if targets == ["@leader"]:
            reserved = set(names)
        active.append((end, reserved))
        t += rng.uniform(*GAP)
    events.sort()
    return [(round(at, 2), ev, fid, kind, tg, fb) for at, _, ev, fid, kind, tg, fb in events]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", required=True)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--duration", type=float, default=90)
    ap.add_argument("--kinds", default="kill,pause,partition")
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    for k in kinds:
        if k not in KINDS:
            ap.error("unknown fault kind %r (known: %s)" % (k, ", ".join(KINDS)))
    for e in plan(args.seed, args.nodes, args.duration, kinds):
        print("%.2f %s %d %s %s %s" % e)


if __name__ == "__main__":
    main()
