#!/usr/bin/env python3
"""clusterfsd's log lines as the journal receives them, without journald.

Run in a mount namespace of its own with a tmpfs on /run/systemd (so that
nothing of the machine's /run is touched):

    journal_check.py STDERR_FILE -- CLUSTERFSD ARGS... --log-level debug

Binds the journal's native socket (/run/systemd/journal/socket), starts the
daemon with its stderr on STDERR_FILE and JOURNAL_STREAM naming that file
(as systemd does for a service whose output is the journal), and checks,
each wait bounded: entries come over the socket with MESSAGE, PRIORITY and
SYSLOG_IDENTIFIER=clusterfsd; once the node is serving, entries carry
NODE_ID; an election line carries TERM, the ready line TERM and INDEX;
debug lines have PRIORITY=7;
nothing of the log is written to stderr. Then SIGTERM: exit 0. Prints what
it saw; exit 0 if all held, 1 otherwise.
"""
import os
import signal
import socket
import struct
import subprocess
import sys
import time

SOCKET = "/run/systemd/journal/socket"


def parse(data):
    """The journal's native protocol: KEY=VALUE lines, or KEY, a 64-bit
    little-endian length and the value, for values with newlines."""
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            v = data[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        fields[k.decode()] = v.decode(errors="replace")
    return fields


def main():
    errpath, sep, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    assert sep == "--" and cmd
    os.makedirs(os.path.dirname(SOCKET), exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(SOCKET)
    err = open(errpath, "w")
    st = os.fstat(err.fileno())
    env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
    entries = []

    def fail(why):
        print(f"journal_check: FAIL: {why}")
        for e in entries[-10:]:
            print(f"journal_check: seen: {e}")
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        sys.exit(1)

    def until(timeout, pred):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(pred(e) for e in entries):
                return True
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                entries.append(parse(sock.recv(1 << 20)))
            except socket.timeout:
                pass
            if proc.poll() is not None and not any(pred(e) for e in entries):
                return False
        return any(pred(e) for e in entries)

    def msg(e):
        return e.get("MESSAGE", "")

    if not until(60, lambda e: "serving" in msg(e)):
        fail("no 'serving' entry within 60 s (exit status %r)" % proc.poll())
    serving = next(e for e in entries if "serving" in msg(e))
    for k, v in (("PRIORITY", "6"), ("SYSLOG_IDENTIFIER", "clusterfsd"), ("NODE_ID", "1")):
        if serving.get(k) != v:
            fail(f"the 'serving' entry has {k}={serving.get(k)!r}, expected {v!r}")
    if not until(30, lambda e: msg(e).startswith("election won") and e.get("TERM", "0") != "0"):
        fail("no 'election won' entry with TERM")
    if not until(30, lambda e: "has applied index" in msg(e) and e.get("INDEX", "0") != "0"
                 and e.get("TERM", "0") != "0"):
        fail("no 'has applied index' entry with TERM and INDEX")
    if not until(30, lambda e: e.get("PRIORITY") == "7"):
        fail("no debug entry (PRIORITY=7) with --log-level debug")
    if any("TERM" in e for e in entries if "serving" in msg(e)):
        fail("TERM on a line that is not about a term")
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(60)
    except subprocess.TimeoutExpired:
        fail("no exit within 60 s of SIGTERM")
    until(1, lambda e: msg(e) == "stopped")
    if rc != 0:
        fail(f"exit status {rc} after SIGTERM")
    err.close()
    logged = [l for l in open(errpath) if " clusterfsd " in l]
    if logged:
        fail(f"{len(logged)} log lines on stderr too, e.g. {logged[0]!r}")
    print(f"journal_check: {len(entries)} entries over the journal socket, "
          f"none on stderr; fields seen: {sorted(set(k for e in entries for k in e))}")


if __name__ == "__main__":
    main()
