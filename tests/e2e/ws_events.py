#!/usr/bin/env python3
"""A minimal WebSocket client for the node's event stream (RFC 6455, no library needed).

usage: ws_events.py PORT COUNT
Connects to ws://127.0.0.1:PORT/v1/events, prints the status line of the handshake's answer,
then the first COUNT text messages, one per line, and exits.
"""
import base64
import os
import socket
import struct
import sys

port, count = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=15)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(
    ("GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key)
    .encode())
buf = b""
while b"\r\n\r\n" not in buf:
    data = s.recv(4096)
    if not data:
        sys.exit("closed during the handshake")
    buf += data
head, buf = buf.split(b"\r\n\r\n", 1)
print(head.split(b"\r\n")[0].decode(), flush=True)


def need(n):
    global buf
    while len(buf) < n:
        data = s.recv(65536)
        if not data:
            sys.exit("closed")
        buf += data
    out, buf = buf[:n], buf[n:]
    return out


got = 0
while got < count:
    b0, b1 = need(2)
    length = b1 & 0x7F
    if length == 126:
        length = struct.unpack(">H", need(2))[0]
    elif length == 127:
        length = struct.unpack(">Q", need(8))[0]
    payload = need(length)
    if b0 & 0x0F == 1:  # a text frame
        print(payload.decode(), flush=True)
        got += 1
