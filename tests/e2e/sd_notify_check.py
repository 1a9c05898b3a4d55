#!/usr/bin/env python3
"""What clusterfsd tells systemd, checked without systemd.

sd_notify_check.py SOCKET -- CLUSTERFSD ARGS...

Binds an AF_UNIX datagram socket at SOCKET (what systemd's NOTIFY_SOCKET
is), starts the daemon with NOTIFY_SOCKET, WATCHDOG_USEC (2 s) and
WATCHDOG_PID set to the daemon's own pid, and checks, each wait bounded:
READY=1 and a STATUS= line arrive; WATCHDOG=1 comes again and again; after
SIGSTOP no ping comes for twice the watchdog interval (a stuck loop stops
the pings, so systemd would restart it); after SIGCONT the pings resume;
SIGTERM gives STOPPING=1 and exit 0. Prints what it saw; exit 0 if all
held, 1 (with the reason) otherwise. The daemon is stopped either way.
"""
import os
import signal
import socket
import subprocess
import sys
import time

WATCHDOG_USEC = 2_000_000
INTERVAL_S = WATCHDOG_USEC / 1e6


def main():
    path, sep, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    assert sep == "--" and cmd
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC=str(WATCHDOG_USEC))
    env.pop("WATCHDOG_PID", None)
    # WATCHDOG_PID must be the daemon's pid: bash exports its own, then
    # becomes the daemon (exec keeps the pid).
    proc = subprocess.Popen(["bash", "-c", 'export WATCHDOG_PID=$$; exec "$@"', "bash"] + cmd,
                            env=env)
    seen = []  # (monotonic time, message)

    def receive_until(timeout, pred):
        """Read messages until pred(message) holds (True) or timeout (False)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            try:
                data = sock.recv(4096)
            except socket.timeout:
                return False
            msg = data.decode(errors="replace")
            seen.append((time.monotonic(), msg))
            if pred(msg):
                return True
            if proc.poll() is not None:
                return False

    def fail(why):
        print(f"sd_notify_check: FAIL: {why}")
        print("sd_notify_check: messages seen: %r" % [m for _, m in seen][-20:])
        stop()
        sys.exit(1)

    def stop():
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def pings(msgs):
        return sum(1 for m in msgs if "WATCHDOG=1" in m.split("\n"))

    if not receive_until(60, lambda m: "READY=1" in m.split("\n")):
        fail("no READY=1 within 60 s (daemon exit status %r)" % proc.poll())
    if not any(l.startswith("STATUS=") for _, m in seen for l in m.split("\n")):
        fail("no STATUS= line up to READY=1")
    n0 = len(seen)
    if not receive_until(10 * INTERVAL_S, lambda m: pings([x for _, x in seen[n0:]]) >= 3):
        fail("fewer than 3 WATCHDOG=1 within %.0f s of READY=1" % (10 * INTERVAL_S))
    print("sd_notify_check: READY=1, STATUS= and 3 watchdog pings seen")

    os.kill(proc.pid, signal.SIGSTOP)
    receive_until(0.5, lambda m: False)  # a ping sent just before the stop
    n1 = len(seen)
    receive_until(2 * INTERVAL_S, lambda m: False)
    if pings([m for _, m in seen[n1:]]) != 0:
        fail("WATCHDOG=1 while the daemon was stopped (SIGSTOP)")
    print("sd_notify_check: no ping for %.0f s while stopped" % (2 * INTERVAL_S))

    os.kill(proc.pid, signal.SIGCONT)
    n2 = len(seen)
    if not receive_until(5 * INTERVAL_S, lambda m: pings([x for _, x in seen[n2:]]) >= 1):
        fail("no WATCHDOG=1 within %.0f s of SIGCONT" % (5 * INTERVAL_S))
    print("sd_notify_check: pings again after SIGCONT")

    os.kill(proc.pid, signal.SIGTERM)
    receive_until(60, lambda m: "STOPPING=1" in m.split("\n"))
    try:
        rc = proc.wait(60)
    except subprocess.TimeoutExpired:
        fail("the daemon did not exit within 60 s of SIGTERM")
    if not any("STOPPING=1" in m.split("\n") for _, m in seen):
        fail("no STOPPING=1 after SIGTERM")
    if rc != 0:
        fail(f"the daemon exited with status {rc} after SIGTERM")
    statuses = [l for _, m in seen for l in m.split("\n") if l.startswith("STATUS=")]
    print("sd_notify_check: statuses: %s; exit 0" % ", ".join(statuses))


if __name__ == "__main__":
    main()
