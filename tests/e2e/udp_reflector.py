"""A STUN-like reflector for the testbed: answers every UDP datagram with the address and port it
came from ("ip:port"), so a host behind a NAT sees the mapping its NAT made. Listens on each port
given; prints "ready" once bound.
usage: udp_reflector.py HOST PORT [PORT...]"""
import selectors
import socket
import sys

host = sys.argv[1]
sel = selectors.DefaultSelector()
for port in sys.argv[2:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        data, peer = key.fileobj.recvfrom(2048)
        key.fileobj.sendto(f"{peer[0]}:{peer[1]}".encode(), peer)
