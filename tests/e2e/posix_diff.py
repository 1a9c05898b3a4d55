#!/usr/bin/env python3
"""Differential POSIX test: the same seeded random sequences of system calls
on a reference directory (tmpfs) and on a clusterfs mount; every result,
errno and the final content must agree.

    posix_diff.py REF_DIR CFS_DIR --seed N --sequences N --steps N

Each sequence works in a fresh subdirectory with a few names and up to four
descriptors, mixing: open with O_TRUNC / O_APPEND / O_CREAT|O_EXCL / access
modes, pwrite at offsets (also past the end), write at the file offset,
ftruncate, fstat, pread, lseek, close, rename over, unlink while open,
link, utimensat (atime and mtime) and a fresh open+read of a name. Results
that legitimately differ are not compared: inode numbers, st_dev, st_blocks,
st_blksize, and times other than those just set by utimensat. What clusterfs
documents as different (devices/FIFOs EPERM, the 1 MiB file limit) is not
generated, and one documented difference is modelled (HeldTruncations):
between open(O_TRUNC) and the write that replaces the content, descriptors
other than the truncating one read the old content (readers never see a
file being rewritten empty), and a truncation that no write followed is
committed just after the truncating descriptor's close returns. On the first difference it prints the seed, the sequence so far
and both results, and exits 1. Exit 0 prints a count of compared calls.
"""
import argparse
import errno
import os
import random
import sys
import time

NAMES = ["a", "b", "c"]
MAX_FDS = 4
MAX_OFF = 9000      # offsets and sizes stay well under the 1 MiB file limit
MAX_LEN = 5000      # crosses page boundaries often

ACCESS = [os.O_RDONLY, os.O_WRONLY, os.O_RDWR]
EXTRA = [0, os.O_TRUNC, os.O_APPEND, os.O_TRUNC | os.O_APPEND, os.O_CREAT,
         os.O_CREAT | os.O_TRUNC, os.O_CREAT | os.O_EXCL, os.O_CREAT | os.O_APPEND]


def flag_names(flags):
    out = [{os.O_RDONLY: "O_RDONLY", os.O_WRONLY: "O_WRONLY", os.O_RDWR: "O_RDWR"}[flags & 3]]
    for bit, name in ((os.O_CREAT, "O_CREAT"), (os.O_EXCL, "O_EXCL"), (os.O_TRUNC, "O_TRUNC"),
                      (os.O_APPEND, "O_APPEND")):
        if flags & bit:
            out.append(name)
    return "|".join(out)


def stat_view(st):
    """What must agree between tmpfs and clusterfs in a stat result."""
    return {"size": st.st_size, "mode": oct(st.st_mode), "nlink": st.st_nlink}


class Side:
    """One directory and the descriptors opened in it by one sequence."""

    def __init__(self, root):
        self.root = root
        self.fds = {}

    def path(self, name):
        return os.path.join(self.root, name)

    def run(self, op):
        kind = op[0]
        try:
            return ("ok", getattr(self, "op_" + kind)(*op[1:]))
        except OSError as e:
            return ("err", errno.errorcode.get(e.errno, str(e.errno)))

    def fd(self, slot):
        if slot not in self.fds:
            raise OSError(errno.EBADF, "no such slot")
        return self.fds[slot]

    def op_open(self, slot, name, flags, mode):
        if slot in self.fds:
            os.close(self.fds.pop(slot))
        self.fds[slot] = os.open(self.path(name), flags, mode)
        return None

    def op_close(self, slot):
        os.close(self.fds.pop(slot) if slot in self.fds else -1)
        return None

    def op_pwrite(self, slot, off, data):
        return os.pwrite(self.fd(slot), data, off)

    def op_write(self, slot, data):
        return os.write(self.fd(slot), data)

    def op_lseek(self, slot, off, whence):
        return os.lseek(self.fd(slot), off, whence)

    def op_pread(self, slot, off, n):
        return os.pread(self.fd(slot), n, off)

    def op_ftruncate(self, slot, size):
        os.ftruncate(self.fd(slot), size)
        return None

    def op_fstat(self, slot):
        return stat_view(os.fstat(self.fd(slot)))

    def op_stat(self, name):
        return stat_view(os.stat(self.path(name)))

    def op_truncate(self, name, size):
        os.truncate(self.path(name), size)
        return None

    def op_rename(self, src, dst):
        os.rename(self.path(src), self.path(dst))
        return None

    def op_unlink(self, name):
        os.unlink(self.path(name))
        return None

    def op_link(self, src, dst):
        os.link(self.path(src), self.path(dst))
        return None

    def op_utimens(self, name, atime_ns, mtime_ns):
        os.utime(self.path(name), ns=(atime_ns, mtime_ns))
        st = os.stat(self.path(name))
        return {"atime_ns": st.st_atime_ns, "mtime_ns": st.st_mtime_ns}

    def op_readall(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def close_all(self):
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = {}

    def tree(self):
        out = {}
        for name in sorted(os.listdir(self.root)):
            p = self.path(name)
            st = os.lstat(p)
            with open(p, "rb") as f:
                out[name] = (stat_view(st), f.read())
        return out


class HeldTruncations:
    """Where clusterfs may answer a read with the content a file had before
    an open(O_TRUNC) (see the top of this file). Tracked on the reference
    side by inode number: the old content and the descriptors that
    truncated. Any change of the content ends it."""

    def __init__(self, ref):
        self.ref = ref
        self.held = {}  # ino -> {"old": bytes, "owners": set of slots}

    def ino_of_name(self, name):
        try:
            return os.stat(self.ref.path(name)).st_ino
        except OSError:
            return None

    def ino_of_slot(self, slot):
        try:
            return os.fstat(self.ref.fds[slot]).st_ino
        except (OSError, KeyError):
            return None

    def before(self, op):
        """Called before @op runs; returns what after() needs."""
        if op[0] == "open" and op[3] & os.O_TRUNC:
            try:
                with open(self.ref.path(op[2]), "rb") as f:
                    return f.read()
            except OSError:
                return None
        return None

    def after(self, op, ref_result, old):
        kind = op[0]
        if ref_result[0] != "ok":
            return
        if kind == "open" and old:
            ino = self.ino_of_slot(op[1])
            if ino is not None and ino not in self.held:
                self.held[ino] = {"old": old, "owners": {op[1]}}
        elif kind in ("pwrite", "write", "ftruncate"):
            self.held.pop(self.ino_of_slot(op[1]), None)
        elif kind == "truncate":
            self.held.pop(self.ino_of_name(op[1]), None)

    def closing(self, slot):
        """The inode whose held truncation the close of @slot commits."""
        ino = self.ino_of_slot(slot)
        if ino in self.held and slot in self.held[ino]["owners"]:
            return ino
        return None

    def old_read(self, op):
        """The old content @op may read on clusterfs instead, or None."""
        if op[0] == "pread":
            ino = self.ino_of_slot(op[1])
            h = self.held.get(ino)
            if h is None or op[1] in h["owners"]:
                return None
            return ("ok", h["old"][op[2]:op[2] + op[3]])
        if op[0] == "readall":
            h = self.held.get(self.ino_of_name(op[1]))
            return ("ok", h["old"]) if h is not None else None
        return None


def wait_empty(cfs, ref, ino, timeout=3.0):
    """After the close that commits a held truncation: wait (bounded) until
    every name of the file on the clusterfs side reads empty."""
    names = [n for n in os.listdir(ref.root) if os.stat(ref.path(n)).st_ino == ino]
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            try:
                with open(cfs.path(name), "rb") as f:
                    if f.read() == b"":
                        break
            except OSError:
                break
            if time.monotonic() > deadline:
                raise SystemExit("posix_diff: %s not empty %.1f s after the close that "
                                 "truncated it" % (cfs.path(name), timeout))
            time.sleep(0.005)


def random_op(rng):
    slot = rng.randrange(MAX_FDS)
    name = rng.choice(NAMES)
    r = rng.random()
    data = bytes(rng.choice(b"abcdefghij\n") for _ in range(rng.randint(1, MAX_LEN)))
    if r < 0.22:
        flags = rng.choice(ACCESS) | rng.choice(EXTRA)
        return ("open", slot, name, flags, 0o644)
    if r < 0.37:
        return ("pwrite", slot, rng.choice([0, 0, rng.randrange(MAX_OFF)]), data)
    if r < 0.47:
        return ("write", slot, data)
    if r < 0.53:
        return ("ftruncate", slot, rng.choice([0, rng.randrange(MAX_OFF)]))
    if r < 0.60:
        return ("fstat", slot)
    if r < 0.66:
        return ("pread", slot, rng.randrange(MAX_OFF), rng.randint(1, MAX_LEN))
    if r < 0.69:
        return ("lseek", slot, rng.randrange(MAX_OFF), rng.choice([os.SEEK_SET, os.SEEK_END]))
    if r < 0.75:
        return ("close", slot)
    if r < 0.78:
        return ("stat", name)
    if r < 0.80:
        return ("truncate", name, rng.randrange(MAX_OFF))
    if r < 0.84:
        return ("rename", name, rng.choice(NAMES))
    if r < 0.87:
        return ("unlink", name)
    if r < 0.89:
        return ("link", name, rng.choice(NAMES))
    if r < 0.93:
        # whole seconds plus a few ns, in the past, so no clock is involved
        return ("utimens", name, rng.randrange(10**9, 17 * 10**8) * 10**9 + rng.randrange(10**9),
                rng.randrange(10**9, 17 * 10**8) * 10**9 + rng.randrange(10**9))
    return ("readall", name)


def describe(op):
    parts = [op[0]]
    for a in op[1:]:
        if isinstance(a, bytes):
            parts.append("<%d bytes>" % len(a))
        else:
            parts.append(repr(a))
    if op[0] == "open":
        parts[3] = flag_names(op[3])
    return " ".join(parts)


def short(res):
    kind, val = res
    if isinstance(val, bytes):
        return "%s %d bytes %r…" % (kind, len(val), val[:40])
    return "%s %r" % (kind, val)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ref")
    ap.add_argument("cfs")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--sequences", type=int, default=40)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--only", type=int, help="run only this sequence (to reproduce one)")
    ap.add_argument("--trace", action="store_true", help="print every call and both results")
    args = ap.parse_args()
    compared = 0
    for seq in range(args.sequences):
        if args.only is not None and seq != args.only:
            continue
        rng = random.Random(args.seed * 100003 + seq)
        sub = "seq%d.%d" % (args.seed, seq)
        sides = []
        for root in (args.ref, args.cfs):
            os.mkdir(os.path.join(root, sub))
            sides.append(Side(os.path.join(root, sub)))
        history = []
        held = HeldTruncations(sides[0])
        try:
            for _ in range(args.steps):
                op = random_op(rng)
                history.append(op)
                committed = held.closing(op[1]) if op[0] in ("close", "open") else None
                old = held.before(op)
                ref, cfs = (s.run(op) for s in sides)
                compared += 1
                if committed is not None:
                    held.held.pop(committed, None)
                    wait_empty(sides[1], sides[0], committed)
                if ref != cfs and cfs == held.old_read(op):
                    cfs = ref  # the documented difference
                held.after(op, ref, old)
                if args.trace:
                    print("  %3d %s -> %s | %s" % (len(history) - 1, describe(op), short(ref),
                                                   short(cfs)), file=sys.stderr)
                if ref != cfs:
                    report(args.seed, seq, history, ref, cfs)
                    return 1
        finally:
            committing = [held.closing(slot) for slot in list(sides[0].fds)]
            for s in sides:
                s.close_all()
        for ino in committing:
            if ino is not None:
                wait_empty(sides[1], sides[0], ino)
        ref_tree, cfs_tree = (s.tree() for s in sides)
        if ref_tree != cfs_tree:
            history.append(("final tree",))
            report(args.seed, seq, history, ("ok", ref_tree), ("ok", cfs_tree))
            return 1
    print("posix_diff: seed %d: %d sequences, %d calls compared, no difference"
          % (args.seed, args.sequences, compared))
    return 0


def report(seed, seq, history, ref, cfs):
    print("posix_diff: seed %d sequence %d differs at step %d" % (seed, seq, len(history)),
          file=sys.stderr)
    for i, op in enumerate(history):
        print("  %3d %s" % (i, describe(op)), file=sys.stderr)
    print("  tmpfs:     %s" % short(ref), file=sys.stderr)
    print("  clusterfs: %s" % short(cfs), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
