#!/usr/bin/env python3
"""mmap(2) of files of the mount, for test_mmap.sh.

  mmap_check.py probe FILE
      Write a small file, then map it in the ways programs do and print one
      line per way: "<way>: ok <bytes read through the mapping>" or
      "<way>: <errno name>". Run on tmpfs and on the mount: the lines must
      be the same.

  mmap_check.py follow MAPPED OTHER
      MAPPED and OTHER are one file seen from two nodes. Map MAPPED
      read-only and shared, then check that the mapping shows: a change made
      through OTHER (the other node; waited for, at most 10 s), a write(2)
      through another descriptor on this node (at once), a rewrite by
      open(O_TRUNC) + write on this node (at once). Then change the file
      through a writable shared mapping of MAPPED plus msync(MS_SYNC), and
      wait (at most 10 s) until OTHER reads it. Exit 1 with a line that
      says what was expected and seen.

  mmap_check.py typed GATE
      GATE is a file in gates/: write it through a writable shared mapping
      as "yes" and check that read(2), and then the mapping (at most 10 s),
      show the stored "true".
"""
import errno
import mmap
import os
import sys
import time

WAIT_S = 10.0


def fail(msg):
    print("mmap_check: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def write_file(path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = os.open(path, flags, 0o644)
    try:
        if os.write(fd, data) != len(data):
            fail("short write to %s" % path)
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def way(name, fn):
    try:
        print("%s: ok %r" % (name, fn()))
    except OSError as e:
        print("%s: %s" % (name, errno.errorcode.get(e.errno, str(e.errno))))


def probe(path):
    data = b"hello mmap\n"
    write_file(path, data)

    def mapped(flags, prot, access_flags, poke=None):
        fd = os.open(path, access_flags)
        try:
            m = mmap.mmap(fd, 0, flags=flags, prot=prot)
        finally:
            os.close(fd)
        try:
            if poke is not None:
                m[:1] = poke
                m.flush()
            return m[:]
        finally:
            m.close()

    way("shared read-only", lambda: mapped(mmap.MAP_SHARED, mmap.PROT_READ, os.O_RDONLY))
    way("private read-only", lambda: mapped(mmap.MAP_PRIVATE, mmap.PROT_READ, os.O_RDONLY))
    way("private writable copy, changed",
        lambda: mapped(mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE, os.O_RDONLY, b"C"))
    way("read(2) after it (the file is not changed)", lambda: read_file(path))
    way("shared read-write, changed and msync'ed",
        lambda: mapped(mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, os.O_RDWR, b"J"))
    way("read(2) after it", lambda: read_file(path))
    way("shared read-write through an O_APPEND descriptor, changed and msync'ed",
        lambda: mapped(mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, os.O_RDWR | os.O_APPEND,
                       b"A"))
    way("read(2) after it (the page at its place, nothing appended)", lambda: read_file(path))
    way("shared writable on a read-only descriptor",
        lambda: mapped(mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, os.O_RDONLY))


def wait_mapping(m, want, what):
    start = time.monotonic()
    while m[:len(want)] != want:
        if time.monotonic() - start > WAIT_S:
            fail("after %s, the mapping still shows %r after %.0f s; expected %r"
                 % (what, m[:len(want)], WAIT_S, want))
        time.sleep(0.001)
    return (time.monotonic() - start) * 1000


def expect_mapping(m, want, what):
    """The whole mapping: @want, then zeros (past the end of the file)."""
    full = want[:len(m)] + bytes(max(0, len(m) - len(want)))
    if m[:] != full:
        fail("right after %s, the mapping shows %r; expected %r" % (what, m[:], full))


def follow(mapped, other):
    write_file(other, b"version-1\n")
    start = time.monotonic()
    while True:  # this node applies the other's write
        try:
            if read_file(mapped) == b"version-1\n":
                break
        except FileNotFoundError:
            pass
        if time.monotonic() - start > WAIT_S:
            fail("%s never read version-1 (waited %.0f s)" % (mapped, WAIT_S))
        time.sleep(0.01)
    fd = os.open(mapped, os.O_RDONLY)
    m = mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    os.close(fd)
    expect_mapping(m, b"version-1\n", "mapping")

    write_file(other, b"version-2\n")
    ms = wait_mapping(m, b"version-2\n", "a write on the other node")
    print("a change on the other node reached the mapping in %.1f ms" % ms)

    write_file(mapped, b"version-3\n", os.O_WRONLY)
    expect_mapping(m, b"version-3\n", "a write(2) through another descriptor of this node")
    write_file(mapped, b"v4\n")
    expect_mapping(m, b"v4\n", "open(O_TRUNC) + write on this node")
    m.close()

    fd = os.open(mapped, os.O_RDWR)
    w = mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    os.close(fd)
    w[:3] = b"v5\n"
    w.flush()  # msync(MS_SYNC): written back, hence committed
    w.close()
    if read_file(mapped) != b"v5\n":
        fail("after msync, this node reads %r; expected b'v5\\n'" % read_file(mapped))
    start = time.monotonic()
    while read_file(other) != b"v5\n":
        if time.monotonic() - start > WAIT_S:
            fail("the other node still reads %r %.0f s after msync; expected b'v5\\n'"
                 % (read_file(other), WAIT_S))
        time.sleep(0.01)
    print("a change through a writable shared mapping reached the other node")


def typed(path):
    """A gate stored normalized ("yes" is stored as "true"): a mapping that
    wrote "yes" shows, once its write is committed, what the cluster
    stored, as read(2) does."""
    write_file(path, b"true\n")
    fd = os.open(path, os.O_RDWR)
    w = mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    os.close(fd)
    w[:5] = b"yes\n\n"  # the same length as what is stored: no size change
    w.flush()
    wait_mapping(w, b"true\n", "msync of 'yes' into a gate")
    if read_file(path) != b"true\n":
        fail("after msync of 'yes', read(2) gives %r; expected b'true\\n'" % read_file(path))
    w.close()
    print("a gate written through a mapping shows its stored value")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "probe":
        probe(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "typed":
        typed(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "follow":
        follow(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
