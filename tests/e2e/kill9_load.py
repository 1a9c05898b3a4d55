#!/usr/bin/env python3
"""Load for test_kill9.sh: one client process on one node's mount.

kill9_load.py ROLE DIR PROGRESS STOPFILE SEED

ROLE "remote": rewrites, creates, renames, removes and chmods names in DIR,
so that the node under test applies another node's changes and has to
invalidate the kernel's caches of them while its own clients use them.
ROLE "reader": opens and reads files, stats present and absent names and
lists DIR (lookups holding directory locks, reads holding file state).
ROLE "writer": rewrites, appends, creates, renames and removes files in DIR
through the node under test.

Every finished system call, failed or not, counts: after each operation the
count and the last error go to PROGRESS (a file outside the mount), so the
test can tell a client that returns errors from one that hangs. Runs until
STOPFILE exists, at most 15 minutes.
"""
import errno
import os
import random
import sys
import time

role, d, progress, stopfile, seed = sys.argv[1:6]
rng = random.Random(int(seed))
NAMES = ["f%d" % i for i in range(8)]
done = 0
last_err = "-"
deadline = time.monotonic() + 900


def op(fn, *args):
    global done, last_err
    try:
        fn(*args)
    except OSError as e:
        last_err = errno.errorcode.get(e.errno, str(e.errno))
    done += 1


def write_file(path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.read(fd, 65536)
    finally:
        os.close(fd)


def remote_step(i):
    name = rng.choice(NAMES)
    k = rng.randrange(6)
    if k == 0:
        op(write_file, os.path.join(d, name), b"remote %d\n" % i)
    elif k == 1:
        t = os.path.join(d, "t%d" % rng.randrange(4))
        op(write_file, t, b"t\n")
        op(os.rename, t, os.path.join(d, "u%d" % rng.randrange(4)))
    elif k == 2:
        op(os.unlink, os.path.join(d, "u%d" % rng.randrange(4)))
    elif k == 3:
        s = os.path.join(d, "s%d" % rng.randrange(3))
        op(os.mkdir, s)
        op(os.rmdir, s)
    elif k == 4:
        op(os.chmod, os.path.join(d, name), rng.choice([0o644, 0o640]))
    else:
        op(write_file, os.path.join(d, "big"), os.urandom(rng.randrange(1, 200000)))


def reader_step(i):
    k = rng.randrange(4)
    if k == 0:
        op(read_file, os.path.join(d, rng.choice(NAMES + ["big"])))
    elif k == 1:
        op(os.stat, os.path.join(d, rng.choice(["t0", "u1", "s2", "absent%d" % (i % 5)])))
    elif k == 2:
        op(os.listdir, d)
    else:
        op(read_file, os.path.join(d, "u%d" % rng.randrange(4)))


def writer_step(i):
    # Creates, renames and unlinks hold the directory's lock in the kernel
    # until the daemon answers: the node's invalidations of names in the
    # same directory wait for them.
    k = rng.randrange(4)
    if k == 0:
        op(write_file, os.path.join(d, "l%d" % rng.randrange(4)), b"local %d\n" % i)
    elif k == 1:
        op(write_file, os.path.join(d, "log"), b"%d\n" % i, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    elif k == 2:
        n = os.path.join(d, "n%s.%d" % (seed, i))
        op(write_file, n, b"new\n")
        op(os.rename, n, os.path.join(d, "m%s" % seed))
    else:
        op(os.unlink, os.path.join(d, "m%s" % seed))


step = {"remote": remote_step, "reader": reader_step, "writer": writer_step}[role]
i = 0
while not os.path.exists(stopfile) and time.monotonic() < deadline:
    step(i)
    i += 1
    tmp = progress + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %s\n" % (done, last_err))
    os.rename(tmp, progress)
    if last_err != "-":
        time.sleep(0.01)  # a dead mount answers at once: do not spin
        last_err = "-"
