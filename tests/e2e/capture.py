#!/usr/bin/env python3
"""Capture the TCP payloads of some ports on the loopback interface.

Usage: capture.py OUT STOPFILE MAX_SECONDS PORT...

A raw AF_PACKET socket bound to `lo` (needs CAP_NET_RAW) keeps the payload
of every IPv4 TCP segment whose source or destination port is one of PORT,
appended to OUT, until STOPFILE exists or MAX_SECONDS have passed (bounded
either way). Prints "ready" on stdout once the socket is bound, and the
number of segments and payload bytes kept when done. Each segment is seen
once on lo; nothing is sent.
"""
import os
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003


def main():
    out, stop, max_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
    ports = {int(p) for p in sys.argv[4:]}
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind(("lo", 0))
    s.settimeout(0.1)
    print("ready", flush=True)
    deadline = time.monotonic() + max_s
    segments = kept = 0
    with open(out, "wb") as f:
        while time.monotonic() < deadline and not os.path.exists(stop):
            try:
                frame, addr = s.recvfrom(65535)
            except socket.timeout:
                continue
            if addr[2] == socket.PACKET_OUTGOING:
                continue  # lo shows each segment twice: keep the incoming copy
            ip = frame[14:]  # lo has a (zero) Ethernet header
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_TCP:
                continue
            ihl = (ip[0] & 0x0F) * 4
            total = struct.unpack("!H", ip[2:4])[0]
            tcp = ip[ihl:total]
            if len(tcp) < 20:
                continue
            sport, dport = struct.unpack("!HH", tcp[:4])
            if sport not in ports and dport not in ports:
                continue
            payload = tcp[(tcp[12] >> 4) * 4:]
            if payload:
                segments += 1
                kept += len(payload)
                f.write(payload)
    print(f"{segments} segments, {kept} bytes", flush=True)


if __name__ == "__main__":
    main()
