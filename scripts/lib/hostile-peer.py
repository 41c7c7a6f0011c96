#!/usr/bin/env python3
"""Hostile peers for a kxoverd front end (loopback only, bounded in count and time).

usage: hostile-peer.py PORT MODE
  stall-after-accept   connect, send nothing, hold 3 s
  stall-after-starttls send 80 00 00 01, read the answer, send no ClientHello, hold 3 s
  stall-mid-handshake  STARTTLS, then half a ClientHello, hold 3 s
  garbage              random bytes as a Kerberos TCP stream
  oversized            a length of 0x7fffffff
  flood                200 connections at once, each held 2 s
Prints what the server answered; exits 0 when the server behaved (answered or closed, never hung us).
"""
import os, socket, sys, time

port, mode = int(sys.argv[1]), sys.argv[2]

def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5)
    return s

def drain(s, seconds):
    s.settimeout(seconds)
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data, "closed"
            data += chunk
    except socket.timeout:
        return data, "open"

if mode == "stall-after-accept":
    s = connect(); time.sleep(3); print("held"); s.close()
elif mode == "stall-after-starttls":
    s = connect(); s.sendall(bytes.fromhex("80000001"))
    print("answer", s.recv(4).hex()); time.sleep(3); s.close()
elif mode == "stall-mid-handshake":
    s = connect(); s.sendall(bytes.fromhex("80000001")); s.recv(4)
    s.sendall(bytes.fromhex("160301")); time.sleep(3); s.close(); print("held")
elif mode == "garbage":
    s = connect(); s.sendall(os.urandom(64)); data, state = drain(s, 3); print(state, len(data))
elif mode == "oversized":
    s = connect(); s.sendall(bytes.fromhex("7fffffff")); data, state = drain(s, 3)
    print(state, data[:8].hex())
    sys.exit(0 if data[4:5] == b"\x7e" else 1)   # a framed KRB-ERROR
elif mode == "flood":
    conns = []
    for _ in range(200):
        try:
            conns.append(connect())
        except OSError as e:
            print("connect failed:", e); break
    time.sleep(2)
    for c in conns: c.close()
    print("flood", len(conns))
else:
    sys.exit("unknown mode " + mode)
