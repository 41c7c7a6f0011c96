#!/usr/bin/env python3
"""Counts KDC answers: sends COUNT AS-REQs (one at a time, each with its own
nonce) to a KDC address over UDP and waits up to 2 s for each reply, without
retransmitting. Prints "sent N answered M" and exits 1 unless every request
was answered. Bounded: COUNT requests (0: as many as fit), at most SECONDS.

usage: kdc-load.py PORT REALM PRINCIPAL COUNT [SECONDS]"""
import os, socket, struct, sys, time


def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        body = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(body)]) + body
    return bytes([tag]) + length + content


def integer(value):
    return tlv(0x02, value.to_bytes((value.bit_length() + 8) // 8 or 1, "big", signed=True))


def ctx(n, content):  # [n] EXPLICIT
    return tlv(0xA0 | n, content)


def principal_name(name_type, components):
    strings = b"".join(tlv(0x1B, c.encode()) for c in components)
    return tlv(0x30, ctx(0, integer(name_type)) + ctx(1, tlv(0x30, strings)))


def as_req(realm, user, nonce):
    body = tlv(0x30,
               ctx(0, tlv(0x03, b"\x00\x40\x00\x00")) +            # kdc-options: forwardable
               ctx(1, principal_name(1, user.split("/"))) +
               ctx(2, tlv(0x1B, realm.encode())) +
               ctx(3, principal_name(2, ["krbtgt", realm])) +
               ctx(5, tlv(0x18, b"20370101000000Z")) +
               ctx(7, integer(nonce)) +
               ctx(8, tlv(0x30, integer(18) + integer(17))))
    return tlv(0x6A, tlv(0x30, ctx(1, integer(5)) + ctx(2, integer(10)) + ctx(4, body)))


def main():
    port, realm, user, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    budget = float(sys.argv[5]) if len(sys.argv) > 5 else 120.0
    deadline = time.monotonic() + budget
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    sent = answered = 0
    while count == 0 or sent < count:
        if time.monotonic() > deadline:
            break
        nonce = struct.unpack(">I", os.urandom(4))[0] & 0x7FFFFFFF
        sock.send(as_req(realm, user, nonce))
        sent += 1
        sock.settimeout(2.0)
        try:
            reply = sock.recv(65536)
            # KRB-ERROR (0x7E) or AS-REP (0x6B): either way the KDC answered.
            if reply[:1] in (b"\x7e", b"\x6b"):
                answered += 1
        except socket.timeout:
            pass
    print(f"sent {sent} answered {answered}")
    sys.exit(0 if (count == 0 or sent == count) and sent > 0 and answered == sent else 1)


if __name__ == "__main__":
    main()
