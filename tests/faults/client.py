#!/usr/bin/env python3
"""One client of the fault run: system calls on one node's mount, each
recorded as a JSON line; and the dump of a node's final state.

    client.py setup MOUNT --registers R --logs L
    client.py run --id C --node NAME --mount MOUNT --out FILE --seed S \
        --stop FILE [--duration SECS] [--think MS] [--registers R] [--logs L]
    client.py dump MOUNT

The workload (tests/faults/test_faults.sh starts one `run` per client):

  r/kI   registers. Every value of a register has the same length
         (REGISTER_SIZES), so that two writers on one node, whose O_TRUNC
         the node holds once per inode, still leave one whole value (POSIX
         lets the second write land on the first's bytes). The content is
         "TOKEN:" and filler derived from the token, so that a torn or mixed
         value is recognised as such.
         write      open(O_WRONLY|O_TRUNC), one write(2), close
         read_sync  open(O_RDONLY), fsync, read to EOF, close (linearizable)
         read       open, read to EOF, close (may be stale)
  a/logI append logs: one unique line per write(2) on an O_APPEND descriptor.
         append, read_log, read_log_sync (the lines read: count, sha256 of
         the content, the last few tokens)
  c/     creates: open(O_CREAT|O_EXCL) of a unique name, one write of its
         token, close. list, list_sync (fsync of the directory first): the
         names read.

Tokens are "cC.SEQ": client C, its SEQ-th operation; unique in the run.

Each operation is two lines in --out: one when it starts ("result":
"pending") and one when it ends, with the same "client" and "seq". An
operation whose end line is missing (a client killed while stuck in a
system call) is "pending": it may or may not have taken effect. Times are
CLOCK_MONOTONIC in ns (comparable between processes of this machine); the
first line ("clock") pairs it with the wall clock, for the nemesis' events.

Fields: client, node, op, path, value (the token written, or read), start,
end, result ("ok" or "error"), errno (name, on error), phase (the system
call that failed: open, create, fsync, write, read, close). A close that
fails after a successful write leaves the result "ok" and says
"close_errno".

Only the standard library: the fault test runs with Debian's python3.
"""
import argparse
import errno
import hashlib
import json
import os
import random
import signal
import sys
import time

REGISTER_SIZES = [24, 24, 300, 5000, 70000, 24, 300, 5000]
READ_CHUNK = 1 << 20
LOG_TAIL = 3

# op -> weight; the mix of a client's operations.
MIX = {
    "write": 24,
    "read_sync": 14,
    "read": 12,
    "append": 16,
    "read_log": 5,
    "read_log_sync": 5,
    "create": 12,
    "list": 3,
    "list_sync": 3,
}

# Errnos after which the mount is probably gone or not yet back (a killed
# or restarting daemon): back off instead of spinning.
BACKOFF_ERRNOS = {errno.ENOTCONN, errno.ECONNABORTED, errno.ENOENT, errno.EIO}


def register_size(path):
    i = int(path.rsplit("k", 1)[1])
    return REGISTER_SIZES[i % len(REGISTER_SIZES)]


def register_content(token, size):
    head = token + ":"
    filler = (token + "|") * (size // (len(token) + 1) + 1)
    body = (head + filler)[: size - 1] + "\n"
    return body.encode()


def register_token(data, size):
    """The token of a register's content, or "CORRUPT:<len>:<sha>" when the
    bytes are not exactly one value of this register."""
    text = data.decode(errors="replace")
    token = text.split(":", 1)[0]
    if len(data) == size and token and register_content(token, size) == data:
        return token
    return "CORRUPT:%d:%s:%r" % (len(data), hashlib.sha256(data).hexdigest()[:16], data[:40])


def log_summary(data):
    """What a read of an append log records: lines, sha256, last tokens,
    and whether it ends in the middle of a line."""
    text = data.decode(errors="replace")
    lines = text.split("\n")
    torn = lines[-1] != ""
    lines = lines[:-1] if not torn else lines
    return {
        "lines": len(lines),
        "sha": hashlib.sha256(data).hexdigest(),
        "tail": lines[-LOG_TAIL:],
        "torn": torn,
    }


def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def read_all(fd):
    chunks = []
    off = 0
    while True:
        b = os.pread(fd, READ_CHUNK, off)
        if not b:
            break
        chunks.append(b)
        off += len(b)
    return b"".join(chunks)


class Client:
    def __init__(self, args):
        self.args = args
        self.id = args.id
        self.node = args.node
        self.mount = args.mount
        self.rng = random.Random("%s/%d" % (args.seed, args.id))
        self.seq = 0
        self.out = open(args.out, "a", buffering=1)
        self.ops = list(MIX)
        self.weights = [MIX[o] for o in self.ops]
        self.registers = ["r/k%d" % i for i in range(args.registers)]
        self.logs = ["a/log%d" % i for i in range(args.logs)]

    def emit(self, rec):
        self.out.write(json.dumps(rec, separators=(",", ":")) + "\n")

    def token(self):
        return "c%d.%d" % (self.id, self.seq)

    def run(self):
        self.emit({"clock": {"mono": time.monotonic_ns(), "real": time.time_ns()},
                   "client": self.id, "node": self.node, "pid": os.getpid()})
        deadline = time.monotonic() + self.args.duration
        while time.monotonic() < deadline and not os.path.exists(self.args.stop):
            op = self.rng.choices(self.ops, self.weights)[0]
            self.seq += 1
            rec = getattr(self, "op_" + op)()
            if rec.get("result") == "error" and getattr(errno, rec.get("errno", ""), 0) in BACKOFF_ERRNOS:
                time.sleep(self.rng.uniform(0.05, 0.25))
            else:
                time.sleep(self.rng.uniform(0, 2 * self.args.think / 1000.0))

    # --- one operation ---------------------------------------------------------

    def begin(self, op, path, value=None):
        rec = {"client": self.id, "seq": self.seq, "node": self.node, "op": op, "path": path}
        if value is not None:
            rec["value"] = value
        rec["start"] = time.monotonic_ns()
        rec["result"] = "pending"
        self.emit(rec)
        return rec

    def finish(self, rec, err=None, phase=None):
        rec["end"] = time.monotonic_ns()
        if err is None:
            rec["result"] = "ok"
        else:
            rec["result"] = "error"
            rec["errno"] = errname(err)
            rec["phase"] = phase
        self.emit(rec)
        return rec

    def abs(self, path):
        return os.path.join(self.mount, path)

    def write_whole(self, rec, flags, data, create=False):
        """open, one write(2), close; returns the finished record."""
        phase = "create" if create else "open"
        try:
            fd = os.open(self.abs(rec["path"]), flags, 0o644)
        except OSError as e:
            return self.finish(rec, e, phase)
        try:
            n = os.write(fd, data)
        except OSError as e:
            try:
                os.close(fd)
            except OSError:
                pass
            return self.finish(rec, e, "write")
        try:
            os.close(fd)
        except OSError as e:
            rec["close_errno"] = errname(e)
        if n != len(data):
            rec["short_write"] = n
            return self.finish(rec, OSError(errno.EIO, "short write"), "write")
        return self.finish(rec)

    def read_whole(self, rec, sync, directory=False):
        """open, [fsync], read to EOF, close; returns (record, data). A
        directory is listed after the close of the descriptor it was
        fsync'ed through: a listing is a snapshot taken at opendir (also
        after a rewind), so one opened before the fsync may be older."""
        flags = os.O_RDONLY | (os.O_DIRECTORY if directory else 0)
        path = self.abs(rec["path"])
        try:
            fd = os.open(path, flags)
        except OSError as e:
            return self.finish(rec, e, "open"), None
        data = None
        try:
            if sync:
                try:
                    os.fsync(fd)
                except OSError as e:
                    return self.finish(rec, e, "fsync"), None
            if not directory:
                try:
                    data = read_all(fd)
                except OSError as e:
                    return self.finish(rec, e, "read"), None
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
        if directory:
            try:
                data = os.listdir(path)
            except OSError as e:
                return self.finish(rec, e, "read"), None
        return rec, data

    def op_write(self):
        path = self.rng.choice(self.registers)
        tok = self.token()
        rec = self.begin("write", path, tok)
        return self.write_whole(rec, os.O_WRONLY | os.O_TRUNC, register_content(tok, register_size(path)))

    def read_register(self, op, sync):
        path = self.rng.choice(self.registers)
        rec = self.begin(op, path)
        rec, data = self.read_whole(rec, sync)
        if data is None:
            return rec
        rec["value"] = register_token(data, register_size(path))
        return self.finish(rec)

    def op_read_sync(self):
        return self.read_register("read_sync", True)

    def op_read(self):
        return self.read_register("read", False)

    def op_append(self):
        path = self.rng.choice(self.logs)
        tok = self.token()
        rec = self.begin("append", path, tok)
        return self.write_whole(rec, os.O_WRONLY | os.O_APPEND, (tok + "\n").encode())

    def read_log(self, op, sync):
        path = self.rng.choice(self.logs)
        rec = self.begin(op, path)
        rec, data = self.read_whole(rec, sync)
        if data is None:
            return rec
        rec["log"] = log_summary(data)
        return self.finish(rec)

    def op_read_log(self):
        return self.read_log("read_log", False)

    def op_read_log_sync(self):
        return self.read_log("read_log_sync", True)

    def op_create(self):
        tok = self.token()
        rec = self.begin("create", "c/" + tok, tok)
        return self.write_whole(rec, os.O_WRONLY | os.O_CREAT | os.O_EXCL, (tok + "\n").encode(), create=True)

    def list_creates(self, op, sync):
        rec = self.begin(op, "c")
        rec, names = self.read_whole(rec, sync, directory=True)
        if names is None:
            return rec
        rec["names"] = sorted(names)
        return self.finish(rec)

    def op_list(self):
        return self.list_creates("list", False)

    def op_list_sync(self):
        return self.list_creates("list_sync", True)


# --- setup and dump ---------------------------------------------------------------


def setup(mount, registers, logs):
    """The files of the workload, each with its initial value (token "init")."""
    for d in ("r", "a", "c"):
        os.mkdir(os.path.join(mount, d))
    for i in range(registers):
        path = "r/k%d" % i
        with open(os.path.join(mount, path), "wb") as f:
            f.write(register_content("init", register_size(path)))
    for i in range(logs):
        open(os.path.join(mount, "a/log%d" % i), "wb").close()


def dump(mount):
    """A node's state of the workload's files, as the checker reads it."""
    out = {"registers": {}, "logs": {}, "creates": {}, "create_names": []}
    for name in sorted(os.listdir(os.path.join(mount, "r"))):
        path = "r/" + name
        with open(os.path.join(mount, path), "rb") as f:
            out["registers"][path] = register_token(f.read(), register_size(path))
    for name in sorted(os.listdir(os.path.join(mount, "a"))):
        path = "a/" + name
        with open(os.path.join(mount, path), "rb") as f:
            data = f.read()
        text = data.decode(errors="replace")
        out["logs"][path] = {"lines": text.split("\n")[:-1] if text.endswith("\n") or not text
                             else text.split("\n"),
                             "torn": bool(text) and not text.endswith("\n")}
    names = os.listdir(os.path.join(mount, "c"))
    out["create_names"] = sorted(names)
    for name in names:
        with open(os.path.join(mount, "c", name), "rb") as f:
            out["creates"]["c/" + name] = f.read().decode(errors="replace")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("mount")
    s.add_argument("--registers", type=int, default=5)
    s.add_argument("--logs", type=int, default=2)
    r = sub.add_parser("run")
    r.add_argument("--id", type=int, required=True)
    r.add_argument("--node", required=True)
    r.add_argument("--mount", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--seed", required=True)
    r.add_argument("--stop", required=True, help="stop once this file exists")
    r.add_argument("--duration", type=float, default=3600)
    r.add_argument("--think", type=float, default=30, help="mean pause between operations, ms")
    r.add_argument("--registers", type=int, default=5)
    r.add_argument("--logs", type=int, default=2)
    d = sub.add_parser("dump")
    d.add_argument("mount")
    args = p.parse_args()
    if args.cmd == "setup":
        setup(args.mount, args.registers, args.logs)
    elif args.cmd == "run":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        Client(args).run()
    else:
        json.dump(dump(args.mount), sys.stdout, sort_keys=True)
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
