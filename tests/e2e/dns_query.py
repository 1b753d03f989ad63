"""Asks a DNS server for a name's A record over UDP and prints the first address of the answer
(RFC 1035 message, one question, recursion desired). Exits 1 without an answer within 3 s.
usage: dns_query.py SERVER NAME"""
import random
import socket
import struct
import sys

server, name = sys.argv[1], sys.argv[2]
qid = random.randrange(65536)
question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(query, (server, 53))
try:
    data, _ = s.recvfrom(4096)
except socket.timeout:
    print(f"no answer from {server}", file=sys.stderr)
    sys.exit(1)
rid, flags, qd, an = struct.unpack(">HHHH", data[:8])
if rid != qid or flags & 0x000F or an == 0:
    print(f"no address (rcode {flags & 0xF}, {an} answers)", file=sys.stderr)
    sys.exit(1)
at = 12 + len(question) + 4
for _ in range(an):
    if data[at] & 0xC0 == 0xC0:
        at += 2
    else:
        while data[at]:
            at += data[at] + 1
        at += 1
    rtype, _, _, length = struct.unpack(">HHIH", data[at:at + 10])
    at += 10
    if rtype == 1 and length == 4:
        print(".".join(str(b) for b in data[at:at + 4]))
        sys.exit(0)
    at += length
sys.exit(1)
