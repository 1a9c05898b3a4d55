#!/usr/bin/env python3
"""Helpers for test_atomic_writes.sh: one write(2) is one entry (DESIGN §3).

  write_atomicity.py append FILE WRITER COUNT SEED
      Append COUNT lines to FILE through one O_APPEND descriptor, one
      write(2) per line; lines have random lengths (1 B to 6 KB, so they
      start and end at every offset within a page and cross many page
      boundaries). Each line says who wrote it and its number, and its body
      is derived from both, so a torn or mixed line is recognisable.

  write_atomicity.py verify FILE WRITERS COUNT SEED
      Every line of FILE is intact and each (writer, number) is there once.

  write_atomicity.py revisions FILE SEED N
      N writes of random sizes (1 B to 1 MiB) at random offsets and buffer
      alignments, plain and O_APPEND: each write(2) must be exactly one entry
      (user.clusterfs.revision becomes the node's applied index + 1), and the content must be what the writes made.
      Sizes over MAX_UNALIGNED come from page-aligned buffers (see
      docs/architecture.md, "One write(2) is one entry").
"""
import mmap
import os
import random
import sys

LIMIT = 1 << 20             # the file size limit
PAGE = 4096
# The kernel passes at most 256 pages of the caller's buffer in one FUSE
# request: a write that needs a 257th page (an unaligned buffer of more than
# 1 MiB - 4 KiB) reaches the daemon as two requests.
MAX_UNALIGNED = LIMIT - PAGE


def line_body(writer, number, seed):
    rng = random.Random("%s/%d/%d" % (writer, number, seed))
    length = rng.choice([rng.randint(1, 120), rng.randint(1, 3000), rng.randint(4000, 6000)])
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
    return bytes(rng.choice(alphabet) for _ in range(length))


def line_of(writer, number, seed):
    return b"%s.%d:%s\n" % (writer.encode(), number, line_body(writer, number, seed))


def cmd_append(path, writer, count, seed):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for n in range(count):
            data = line_of(writer, n, seed)
            written = os.write(fd, data)
            if written != len(data):
                print("short write: %d of %d bytes" % (written, len(data)), file=sys.stderr)
                return 1
    finally:
        os.close(fd)
    return 0


def cmd_verify(path, writers, count, seed):
    with open(path, "rb") as f:
        content = f.read()
    if content and not content.endswith(b"\n"):
        print("content does not end with a newline: %r" % content[-60:], file=sys.stderr)
        return 1
    seen = {}
    for i, line in enumerate(content.split(b"\n")[:-1]):
        head, sep, body = line.partition(b":")
        writer, dot, number = head.rpartition(b".")
        ok = sep and dot and number.isdigit() and writer.decode(errors="replace") in writers
        if ok:
            key = (writer.decode(), int(number))
            ok = body == line_body(key[0], key[1], seed)
        if not ok:
            print("line %d is torn or mixed: %r" % (i, line[:80]), file=sys.stderr)
            return 1
        if key in seen:
            print("line %s.%d appears twice (lines %d and %d)" % (key[0], key[1], seen[key], i),
                  file=sys.stderr)
            return 1
        seen[key] = i
    missing = [(w, n) for w in writers for n in range(count) if (w, n) not in seen]
    if missing:
        print("%d lines missing, e.g. %s.%d" % (len(missing), missing[0][0], missing[0][1]),
              file=sys.stderr)
        return 1
    print("%d lines from %d writers, each once and intact" % (len(seen), len(writers)))
    return 0


def revision(path):
    return int(os.getxattr(path, "user.clusterfs.revision"))


def applied_index(path):
    """This node's applied index (.cluster/status of the mount holding path)."""
    d = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(os.path.join(d, ".cluster")):
        if os.path.dirname(d) == d:
            raise RuntimeError("%s is not inside a clusterfs mount" % path)
        d = os.path.dirname(d)
    with open(os.path.join(d, ".cluster", "status")) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if key == "applied_index":
                return int(value)
    raise RuntimeError("no applied_index in .cluster/status")


def cmd_revisions(path, seed, n):
    rng = random.Random(seed)
    # os.truncate, not open(O_TRUNC): a truncation held by an open that no
    # write followed is committed at the close, after close(2) returned.
    with open(path, "ab"):
        pass
    os.truncate(path, 0)
    expect = bytearray()
    for i in range(n):
        append = rng.random() < 0.3
        size = rng.choice([rng.randint(1, 64), rng.randint(1, 3 * PAGE), rng.randint(1, LIMIT // 4),
                           rng.randint(LIMIT // 2, LIMIT)])
        if append:
            off = len(expect)
        else:
            off = rng.choice([0, rng.randint(0, max(0, min(len(expect), LIMIT - size)))])
            off = rng.choice([off, off - off % PAGE + PAGE - rng.randint(1, 64)])
        if off + size > LIMIT:
            # keep within the limit: start over from an empty file
            os.truncate(path, 0)
            expect = bytearray()
            off = 0
        aligned = size > MAX_UNALIGNED or rng.random() < 0.3
        shift = 0 if aligned else rng.randint(1, PAGE - 1)
        buf = mmap.mmap(-1, size + PAGE)
        fill = bytes([ord("a") + i % 26])
        buf[shift:shift + size] = fill * size
        data = memoryview(buf)[shift:shift + size]
        # The revision is the raft index of the file's last change; the
        # write must be the one entry after everything applied so far.
        before = applied_index(path)
        flags = os.O_WRONLY | (os.O_APPEND if append else 0)
        fd = os.open(path, flags)
        try:
            written = os.pwrite(fd, data, off) if not append else os.write(fd, data)
        finally:
            os.close(fd)
        data.release()
        buf.close()
        rises = revision(path) - before
        what = "write %d: %s %d bytes at %d (buffer offset %d in its page)" % (
            i, "O_APPEND" if append else "pwrite", size, off, shift)
        if written != size:
            print("%s: short write of %d" % (what, written), file=sys.stderr)
            return 1
        if rises != 1:
            print("%s: revision is applied index + %d, not + 1 (one entry)" % (what, rises),
                  file=sys.stderr)
            return 1
        if len(expect) < off:
            expect.extend(b"\0" * (off - len(expect)))
        expect[off:off + size] = fill * size
        with open(path, "rb") as f:
            got = f.read()
        if got != expect:
            print("%s: content differs (%d bytes, expected %d)" % (what, len(got), len(expect)),
                  file=sys.stderr)
            return 1
    print("%d writes, each one revision, content as written" % n)
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "append" and len(argv) == 6:
        return cmd_append(argv[2], argv[3], int(argv[4]), int(argv[5]))
    if len(argv) >= 2 and argv[1] == "verify" and len(argv) == 6:
        return cmd_verify(argv[2], argv[3].split(","), int(argv[4]), int(argv[5]))
    if len(argv) >= 2 and argv[1] == "revisions" and len(argv) == 5:
        return cmd_revisions(argv[2], int(argv[3]), int(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
