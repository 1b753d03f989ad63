#!/usr/bin/env python3
"""Latency for the testbed without the kernel's netem: every packet a tun device receives is held
for a fixed time, then written back into the same device, from where the kernel forwards it on.

    netbed-delay.py DEVICE MILLISECONDS

scripts/netbed.sh `delay` makes the device, routes a host's outgoing packets into it and runs this
in the host's namespace. The delay is the same for every packet, so the order is kept (a queue,
no reordering); past 65,536 packets waiting, new ones are dropped, as a full router queue would.
"""
import collections
import fcntl
import os
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAX_WAITING = 65536


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: netbed-delay.py DEVICE MILLISECONDS")
    name, delay = sys.argv[1], float(sys.argv[2]) / 1000.0
    if not 0 < delay <= 10:
        sys.exit("netbed-delay: the delay is 0 to 10,000 ms")
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    waiting = collections.deque()
    while True:
        timeout = max(0.0, waiting[0][0] - time.monotonic()) if waiting else None
        readable, _, _ = select.select([fd], [], [], timeout)
        if readable:
            now = time.monotonic()
            while True:
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                if len(waiting) < MAX_WAITING:
                    waiting.append((now + delay, packet))
        now = time.monotonic()
        while waiting and waiting[0][0] <= now:
            try:
                os.write(fd, waiting.popleft()[1])
            except OSError:
                pass  # a packet the kernel refuses is lost, as on a wire


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
