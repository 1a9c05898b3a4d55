#!/usr/bin/env python3
"""Perform one system call and print the errno name, or OK.

Used by the e2e shell tests to assert on the exact errno of a syscall,
which shell tools only report as a translated message.

    errno_probe.py OP ARGS...

Operations:
    open PATH FLAGS [MODE]        FLAGS: comma list of rdonly,wronly,rdwr,
                                  creat,excl,trunc,append (MODE octal)
    write PATH FLAGS DATA         open, write DATA (\\n escapes allowed), close
    writefile PATH NBYTES         open O_WRONLY|O_CREAT|O_TRUNC, write NBYTES
                                  of 'x' in one call, close
    mkdir PATH [MODE]
    rmdir PATH
    unlink PATH
    rename OLD NEW
    renameat2 OLD NEW FLAGS       FLAGS: noreplace, exchange, whiteout or 0
    link OLD NEW
    symlink TARGET NEW
    mknod PATH TYPE               TYPE: fifo, char, block, sock
    mkfifo PATH
    truncate PATH SIZE
    chmod PATH MODE
    chown PATH UID GID
    setxattr PATH NAME VALUE [create|replace]
    getxattr PATH NAME            prints OK <value> on success
    removexattr PATH NAME
    fsync PATH
    statfs PATH

Exit status is 0 whatever the errno (the caller asserts on the output);
2 for bad usage.
"""
import ctypes
import ctypes.util
import errno
import os
import stat
import sys

RENAME_FLAGS = {"0": 0, "noreplace": 1, "exchange": 2, "whiteout": 4}
OPEN_FLAGS = {
    "rdonly": os.O_RDONLY, "wronly": os.O_WRONLY, "rdwr": os.O_RDWR,
    "creat": os.O_CREAT, "excl": os.O_EXCL, "trunc": os.O_TRUNC,
    "append": os.O_APPEND,
}
AT_FDCWD = -100


def open_flags(spec):
    flags = 0
    for word in spec.split(","):
        flags |= OPEN_FLAGS[word]
    return flags


def renameat2(old, new, flags):
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        raise SystemExit("errno_probe: libc has no renameat2")
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                   ctypes.c_uint]
    rv = fn(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags)
    if rv != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def write_all(fd, data):
    """Write everything, as a shell tool would: a short write is retried,
    so that the errno of the write that cannot make progress is reported."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise SystemExit("errno_probe: write returned %d" % n)
        view = view[n:]


def run(op, args):
    if op == "open":
        fd = os.open(args[0], open_flags(args[1]), int(args[2], 8) if len(args) > 2 else 0o644)
        os.close(fd)
    elif op == "write":
        fd = os.open(args[0], open_flags(args[1]), 0o644)
        try:
            write_all(fd, args[2].encode().decode("unicode_escape").encode("latin-1"))
        finally:
            os.close(fd)
    elif op == "writefile":
        fd = os.open(args[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, b"x" * int(args[1]))
        finally:
            os.close(fd)
    elif op == "mkdir":
        os.mkdir(args[0], int(args[1], 8) if len(args) > 1 else 0o755)
    elif op == "rmdir":
        os.rmdir(args[0])
    elif op == "unlink":
        os.unlink(args[0])
    elif op == "rename":
        os.rename(args[0], args[1])
    elif op == "renameat2":
        renameat2(args[0], args[1], RENAME_FLAGS[args[2]])
    elif op == "link":
        os.link(args[0], args[1])
    elif op == "symlink":
        os.symlink(args[0], args[1])
    elif op == "mknod":
        kinds = {"fifo": stat.S_IFIFO, "char": stat.S_IFCHR, "block": stat.S_IFBLK,
                 "sock": stat.S_IFSOCK}
        os.mknod(args[0], kinds[args[1]] | 0o644, os.makedev(1, 3))
    elif op == "mkfifo":
        os.mkfifo(args[0])
    elif op == "truncate":
        os.truncate(args[0], int(args[1]))
    elif op == "chmod":
        os.chmod(args[0], int(args[1], 8))
    elif op == "chown":
        os.chown(args[0], int(args[1]), int(args[2]))
    elif op == "setxattr":
        flags = 0
        if len(args) > 3:
            flags = {"create": os.XATTR_CREATE, "replace": os.XATTR_REPLACE}[args[3]]
        os.setxattr(args[0], args[1], args[2].encode(), flags)
    elif op == "getxattr":
        return "OK " + os.getxattr(args[0], args[1]).decode(errors="replace")
    elif op == "removexattr":
        os.removexattr(args[0], args[1])
    elif op == "fsync":
        fd = os.open(args[0], os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    elif op == "statfs":
        os.statvfs(args[0])
    else:
        raise KeyError(op)
    return "OK"


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        out = run(sys.argv[1], sys.argv[2:])
    except (KeyError, IndexError, ValueError) as e:
        print("errno_probe: bad usage: %s" % e, file=sys.stderr)
        return 2
    except OSError as e:
        out = errno.errorcode.get(e.errno, "E%d" % e.errno)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
