#!/usr/bin/env python3
"""A man in the middle for one node in a network namespace of its own.

Usage: mitm_relay.py NETNS CONTROL_DIR HOST_PORT:NS_PORT... -- NS_PORT...

Every connection to 127.0.0.1:HOST_PORT here (the test's namespace) is
relayed to 127.0.0.1:NS_PORT inside NETNS (/run/netns/NETNS), and every
connection to 127.0.0.1:NS_PORT inside NETNS (after --) to the same port
here: the node in NETNS and the others reach each other only through this
relay. Bytes are passed on unchanged, except: while the file
CONTROL_DIR/flip exists, one bit of each chunk is flipped in connections
that have already carried FLIP_AFTER bytes in that direction (past the
handshake, inside the encrypted frames); each flip appends a line to
CONTROL_DIR/flips. Writes "ready" to CONTROL_DIR/ready once listening, and
stops when CONTROL_DIR/stop exists (checked every 0.1 s). setns(2) through
ctypes: a socket stays in the namespace it was created in.
"""
import ctypes
import os
import selectors
import socket
import sys

CLONE_NEWNET = 0x40000000
FLIP_AFTER = 400
libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    s.setblocking(False)
    return s


class Relay:
    def __init__(self, netns, control):
        self.host_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.other_ns = os.open("/run/netns/" + netns, os.O_RDONLY)
        self.control = control
        self.sel = selectors.DefaultSelector()
        self.sent = {}  # socket -> bytes relayed from it
        self.peer = {}

    def connect_in(self, ns_fd, port):
        setns(ns_fd)
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=2)
        finally:
            setns(self.host_ns)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.setblocking(False)
        return c

    def accept(self, lsock, target_ns, port):
        a, _ = lsock.accept()
        try:
            b = self.connect_in(target_ns, port)
        except OSError:
            a.close()
            return
        a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        a.setblocking(False)
        for x, y in ((a, b), (b, a)):
            self.peer[x] = y
            self.sent[x] = 0
            self.sel.register(x, selectors.EVENT_READ, ("data", None, None))

    def drop(self, x):
        for s in (x, self.peer.get(x)):
            if s is not None and s in self.peer:
                self.sel.unregister(s)
                del self.peer[s]
                del self.sent[s]
                s.close()

    def data(self, x):
        try:
            buf = bytearray(x.recv(65536))
        except OSError:
            buf = b""
        if not buf:
            self.drop(x)
            return
        if self.sent[x] >= FLIP_AFTER and os.path.exists(os.path.join(self.control, "flip")):
            i = len(buf) // 2
            buf[i] ^= 0x10
            with open(os.path.join(self.control, "flips"), "a") as f:
                f.write(f"flipped byte {self.sent[x] + i} of a stream\n")
        self.sent[x] += len(buf)
        try:
            self.peer[x].settimeout(5)  # bounded: a stuck reader drops the pair
            self.peer[x].sendall(buf)
            self.peer[x].setblocking(False)
        except OSError:
            self.drop(x)

    def run(self, host_map, ns_ports):
        for hp, np in host_map:
            self.sel.register(listener(hp), selectors.EVENT_READ, ("accept", self.other_ns, np))
        setns(self.other_ns)
        for p in ns_ports:
            self.sel.register(listener(p), selectors.EVENT_READ, ("accept", self.host_ns, p))
        setns(self.host_ns)
        open(os.path.join(self.control, "ready"), "w").close()
        while not os.path.exists(os.path.join(self.control, "stop")):
            for key, _ in self.sel.select(timeout=0.1):
                kind, ns_fd, port = key.data
                if kind == "accept":
                    self.accept(key.fileobj, ns_fd, port)
                elif key.fileobj in self.peer:
                    self.data(key.fileobj)


def main():
    netns, control = sys.argv[1], sys.argv[2]
    rest = sys.argv[3:]
    cut = rest.index("--")
    host_map = [tuple(int(v) for v in m.split(":")) for m in rest[:cut]]
    ns_ports = [int(p) for p in rest[cut + 1:]]
    Relay(netns, control).run(host_map, ns_ports)


if __name__ == "__main__":
    main()
