#!/usr/bin/env python3
"""Linearizability of one register: the WGL search (Wing & Gong 1993, with
Lowe's memoisation of (linearized set, state), as in Porcupine and
Knossos), for tests/faults/checker.py.

A history is a list of operations (start, end, kind, value): kind "w"
writes value, kind "r" read value. Each must take effect at one point of
its interval. The search walks the events in time order, tries each
operation whose call has been seen as the next one to take effect, and
backtracks when an operation's return is reached before it took effect;
a (set of operations done, value) pair already explored is not explored
again. Exponential in the worst case (many operations overlapping), so it
gives up after a number of steps.
"""

INF = 1 << 62


def linearizable(ops, init, max_steps=3_000_000):
    """WGL search for a register. ops: (start, end, kind, value), kind "w"
    (write value) or "r" (read returned value); init: the initial value.
    An operation may take effect at any point in [start, end]; give a
    maybe-write end=INF. Returns (verdict, info): verdict True, False or
    None (gave up after max_steps); info has "steps" and, when False,
    "stuck" (the index of an operation that could not be placed at the
    furthest point the search reached), "prefix" (indices placed before
    it, in order) and "state" (the value there)."""
    events = []
    for i, (s, e, _, _) in enumerate(ops):
        events.append((s, 0, i))  # calls before returns at equal times: concurrent
        events.append((e, 1, i))
    events.sort()
    m = len(events)
    # a doubly linked list of the events, node 0 the head, -1 the end
    nxt = list(range(1, m + 2))
    nxt[m] = -1
    prv = list(range(-1, m))
    is_call = [False] * (m + 1)
    op_of = [0] * (m + 1)
    match = [0] * (m + 1)
    ret_node = {}
    for k, (_, kind, i) in enumerate(events, 1):
        op_of[k] = i
        if kind == 1:
            ret_node[i] = k
    for k, (_, kind, i) in enumerate(events, 1):
        if kind == 0:
            is_call[k] = True
            match[k] = ret_node[i]

    def lift(k):
        for x in (k, match[k]):
            nxt[prv[x]] = nxt[x]
            if nxt[x] != -1:
                prv[nxt[x]] = prv[x]

    def unlift(k):
        for x in (match[k], k):
            nxt[prv[x]] = x
            if nxt[x] != -1:
                prv[nxt[x]] = x

    cache = set()
    calls = []
    state = init
    lin = 0
    steps = 0
    best = (-1, None, None, None)
    entry = nxt[0]
    while nxt[0] != -1:
        steps += 1
        if steps > max_steps:
            return None, {"steps": steps}
        if is_call[entry]:
            i = op_of[entry]
            _, _, kind, value = ops[i]
            if kind == "w":
                ok, new_state = True, value
            else:
                ok, new_state = value == state, state
            if ok:
                new_lin = lin | (1 << i)
                key = (new_lin, new_state)
                if key not in cache:
                    cache.add(key)
                    calls.append((entry, state))
                    state = new_state
                    lin = new_lin
                    lift(entry)
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
        else:
            if len(calls) > best[0]:
                best = (len(calls), [op_of[c] for c, _ in calls], op_of[entry], state)
            if not calls:
                return False, {"steps": steps, "prefix": best[1] or [], "stuck": best[2],
                               "state": best[3]}
            entry, state = calls.pop()
            lin &= ~(1 << op_of[entry])
            unlift(entry)
            entry = nxt[entry]
    return True, {"steps": steps}
