#!/usr/bin/env python3
"""sd_notify_log.py SOCKET FILE: bind an AF_UNIX datagram socket at SOCKET
(what systemd's NOTIFY_SOCKET is) and append each message to FILE as one
line (its newlines as '|'), until killed. Tests wait for lines in FILE."""
import socket
import sys

sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    print("listening", file=out, flush=True)
    while True:
        msg = sock.recv(4096).decode(errors="replace")
        print(msg.replace("\n", "|"), file=out, flush=True)
