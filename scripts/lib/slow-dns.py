#!/usr/bin/env python3
"""A slow authoritative DNS server for tests: relays every UDP query to an
upstream server (the test zone's NSD) and sends its answer back DELAY seconds
later, unchanged. Used as a dns_stub for one zone, it makes that zone answer
slowly while every other name answers as usual.

Bounded: at most 512 queries waiting at once (more are dropped), and the
process exits by itself after LIFETIME seconds.

usage: slow-dns.py LISTEN_PORT UPSTREAM_PORT DELAY [LIFETIME]   (127.0.0.1 only)"""
import heapq, selectors, socket, sys, time

MAX_WAITING = 512


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    listen_port, upstream_port, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    lifetime = float(sys.argv[4]) if len(sys.argv) == 5 else 600
    end = time.monotonic() + lifetime
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", listen_port))
    server.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(server, selectors.EVENT_READ, None)
    due = []        # (time, sequence, client, upstream socket)
    sequence = 0
    print("ready", flush=True)
    while time.monotonic() < end:
        now = time.monotonic()
        timeout = min(due[0][0] - now if due else 0.5, end - now)
        for key, _ in selector.select(max(timeout, 0)):
            if key.data is None:
                try:
                    query, client = server.recvfrom(65535)
                except BlockingIOError:
                    continue
                if len(due) >= MAX_WAITING:
                    continue
                upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                upstream.settimeout(1)
                upstream.sendto(query, ("127.0.0.1", upstream_port))
                sequence += 1
                heapq.heappush(due, (time.monotonic() + delay, sequence, client, upstream))
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, client, upstream = heapq.heappop(due)
            try:
                answer = upstream.recv(65535)
                server.sendto(answer, client)
            except OSError:
                pass
            upstream.close()


if __name__ == "__main__":
    main()
