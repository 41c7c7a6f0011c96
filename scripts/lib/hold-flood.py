#!/usr/bin/env python3
"""A hold flood (loopback only, bounded in count and time): COUNT TGS-REQs
for krbtgt/TARGET@REALM over UDP to a kxoverd front end, from SOURCES
different source networks (127.N.M.1: each its own /24), spread over SECONDS.
Each request names a realm kxoverd has no key for, so kxoverd would hold it
for the exchange; no answer is awaited. Prints "sent N from S networks".

usage: hold-flood.py PORT REALM TARGET COUNT SOURCES SECONDS"""
import importlib.util, os, socket, sys, time

port, realm, target = int(sys.argv[1]), sys.argv[2], sys.argv[3]
count, sources, seconds = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
assert count <= 20000 and sources <= 250 and seconds <= 60, "bounded"

spec = importlib.util.spec_from_file_location("kdc_load", os.path.join(os.path.dirname(__file__), "kdc-load.py"))
k = importlib.util.module_from_spec(spec)
spec.loader.exec_module(k)


def tgs_req(nonce):
    # The body is all kxoverd peeks at; padata (a TGT) is absent, so krb5kdc
    # refuses the request once it gets it.
    body = k.tlv(0x30,
                 k.ctx(0, k.tlv(0x03, b"\x00\x40\x00\x00")) +
                 k.ctx(2, k.tlv(0x1B, realm.encode())) +
                 k.ctx(3, k.principal_name(2, ["krbtgt", target])) +
                 k.ctx(5, k.tlv(0x18, b"20370101000000Z")) +
                 k.ctx(7, k.integer(nonce)) +
                 k.ctx(8, k.tlv(0x30, k.integer(18) + k.integer(17))))
    return k.tlv(0x6C, k.tlv(0x30, k.ctx(1, k.integer(5)) + k.ctx(2, k.integer(12)) + k.ctx(4, body)))


socks = []
for n in range(sources):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((f"127.{10 + n // 200}.{n % 200 + 1}.1", 0))
    s.setblocking(False)
    socks.append(s)
start = time.monotonic()
sent = 0
for i in range(count):
    due = start + seconds * i / count
    while time.monotonic() < due:
        time.sleep(min(0.005, due - time.monotonic()))
    try:
        socks[i % sources].sendto(tgs_req(100000 + i), ("127.0.0.1", port))
        sent += 1
    except BlockingIOError:
        pass
    for s in socks:   # drain answers so the socket buffers never fill
        try:
            while s.recv(65536):
                pass
        except (BlockingIOError, OSError):
            pass
print(f"sent {sent} from {sources} networks in {time.monotonic() - start:.1f} s")
