"""From one local UDP port, asks each reflector (udp_reflector.py) how it sees us; prints one
"ip:port" line per reflector, in order. Exits 1 if one does not answer within 2 s.
usage: udp_probe.py LOCAL_PORT HOST:PORT [HOST:PORT...]"""
import socket
import sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(2)
for target in sys.argv[2:]:
    host, port = target.rsplit(":", 1)
    s.sendto(b"?", (host, int(port)))
    try:
        data, _ = s.recvfrom(2048)
    except socket.timeout:
        print(f"no answer from {target}", file=sys.stderr)
        sys.exit(1)
    print(data.decode())
