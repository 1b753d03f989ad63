#!/usr/bin/env python3
"""Slowloris clients for the adversary test: opens COUNT connections to HOST:PORT from each of the
SOURCES addresses, sends the start of a request on each and never finishes it; after a second
says how many per source the server closed ("closed SOURCE N"), prints "held N" (those still open),
then holds them until killed.
usage: slow_clients.py HOST PORT COUNT SOURCE..."""
import select
import socket
import sys
import time

host, port, count, sources = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
held = {s: [] for s in sources}
for source in sources:
    for _ in range(count):
        c = socket.socket()
        c.bind((source, 0))
        c.connect((host, port))
        try:
            c.sendall(b"GET /v1/health HTTP/1.1\r\nHost: node\r\n")
        except OSError:  # closed at once by the server
            pass
        held[source].append(c)
time.sleep(1)
total = 0
for source, conns in held.items():
    closed = 0
    for c in conns:
        p = select.poll()  # (select() stops at descriptor 1024)
        p.register(c, select.POLLIN)
        if p.poll(0):
            try:
                gone = c.recv(1) == b""
            except OSError:  # reset: closed with our request unread
                gone = True
            closed += gone
    total += len(conns) - closed
    print(f"closed {source} {closed}", flush=True)
print(f"held {total}", flush=True)
while True:
    time.sleep(60)
