#!/usr/bin/env python3
"""Hostile peers for a kxoverd front end (loopback only, bounded in count and time).
Each mode asserts what the server must do and exits 1, saying what it saw,
when the server does anything else.

usage: hostile-peer.py PORT MODE [REALM]
  stall-after-accept   connect, send nothing: closed, without a word, within
                       the front end's idle bound (30 s) and some slack
  stall-after-starttls send 80 00 00 01: answered 00 00 00 00; then no
                       ClientHello: closed within the pool's handshake bound
  stall-mid-handshake  STARTTLS, then half a TLS record: closed the same way
  garbage              a framed message that is no KDC request (seeded bytes):
                       closed at once, without an answer
  oversized            a length of 0x7fffffff: a framed KRB-ERROR, then closed
  flood                200 connections at once, held; meanwhile an AS-REQ for
                       REALM on one more connection is answered
  silent-after-tls     COUNT peers with a valid identity (CERT KEY COUNT HOLD
                       [SOURCE]) complete STARTTLS and TLS, then send nothing;
                       each must be let go within HOLD seconds
  starttls-flood       700 STARTTLS words from 127.0.5.1 (another /24 of
                       loopback): at most 60 (+1 a second) accepted, the rest a framed
                       KRB-ERROR RATE_LIMITED
"""
import importlib.util, os, random, socket, sys, time

port, mode = int(sys.argv[1]), sys.argv[2]
realm = sys.argv[3] if len(sys.argv) > 3 else "SERVICE.TEST"

# What the server may take, with slack for a loaded machine.
IDLE_BOUND = 30 + 10          # FrontEndConfiguration.Limits.idleTimeout
HANDSHAKE_BOUND = 15 + 5      # the server role's StartTLS exchange timeout
AT_ONCE = 5


def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5)
    return s


def read_until_closed(s, seconds):
    """Everything the server sends until it closes, and whether it closed in time."""
    deadline = time.monotonic() + seconds
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def expect(ok, what):
    print(("ok: " if ok else "FAILED: ") + what)
    if not ok:
        sys.exit(1)


def starttls(s):
    s.sendall(bytes.fromhex("80000001"))
    answer = b""
    while len(answer) < 4:
        chunk = s.recv(4 - len(answer))
        if not chunk:
            break
        answer += chunk
    expect(answer == b"\x00\x00\x00\x00", f"STARTTLS answered 00000000 (got {answer.hex() or 'nothing'})")


if mode == "stall-after-accept":
    s = connect()
    data, closed = read_until_closed(s, IDLE_BOUND)
    expect(closed and not data, f"a silent client is closed without a word within {IDLE_BOUND} s (sent {len(data)} bytes, closed: {closed})")
elif mode == "stall-after-starttls":
    s = connect()
    starttls(s)
    data, closed = read_until_closed(s, HANDSHAKE_BOUND)
    expect(closed, f"no ClientHello: closed within {HANDSHAKE_BOUND} s")
elif mode == "stall-mid-handshake":
    s = connect()
    starttls(s)
    s.sendall(bytes.fromhex("160301"))
    data, closed = read_until_closed(s, HANDSHAKE_BOUND)
    expect(closed, f"half a TLS record: closed within {HANDSHAKE_BOUND} s")
elif mode == "garbage":
    body = bytes([0x30]) + random.Random(20).randbytes(63)   # a DER SEQUENCE: neither AS-REQ nor TGS-REQ
    s = connect()
    s.sendall(len(body).to_bytes(4, "big") + body)
    data, closed = read_until_closed(s, AT_ONCE)
    expect(closed and not data, f"a frame that is no KDC request: closed without an answer within {AT_ONCE} s (got {len(data)} bytes, closed: {closed})")
elif mode == "oversized":
    s = connect()
    s.sendall(bytes.fromhex("7fffffff"))
    data, closed = read_until_closed(s, AT_ONCE)
    framed = len(data) >= 5 and int.from_bytes(data[:4], "big") == len(data) - 4
    expect(framed and data[4:5] == b"\x7e", f"a framed KRB-ERROR (got {data[:8].hex()})")
    expect(closed, f"then closed within {AT_ONCE} s")
elif mode == "flood":
    spec = importlib.util.spec_from_file_location("kdc_load", os.path.join(os.path.dirname(__file__), "kdc-load.py"))
    kdc_load = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kdc_load)
    conns = [connect() for _ in range(200)]
    request = kdc_load.as_req(realm, "nobody", 4242)
    s = connect()
    s.sendall(len(request).to_bytes(4, "big") + request)
    head = b""
    s.settimeout(AT_ONCE)
    try:
        while len(head) < 5:
            chunk = s.recv(5 - len(head))
            if not chunk:
                break
            head += chunk
    except socket.timeout:
        pass
    expect(head[4:5] in (b"\x7e", b"\x6b"), f"with 200 idle connections open, an AS-REQ is answered (got {head.hex() or 'nothing'})")
    # Every flood connection is still open (none reset while held).
    reset = 0
    for c in conns:
        c.setblocking(False)
        try:
            if c.recv(1) == b"":
                reset += 1
        except BlockingIOError:
            pass
        except OSError:
            reset += 1
        c.close()
    expect(reset == 0, f"the 200 connections stayed open ({reset} closed early)")
elif mode == "starttls-flood":
    # 700 STARTTLS words from one source network (127.0.5.0/24, still
    # loopback): more than the service's whole inbound minute (600 by
    # default). The first max_starttls_per_source_per_minute (60) are
    # answered 00000000 (and closed by us at once); every later one gets a
    # framed KRB-ERROR RATE_LIMITED naming the per-source limit.
    def read_exact(s, n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                break
            data += chunk
        return data
    accepted = refused = other = 0
    started = time.monotonic()
    for _ in range(700):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(AT_ONCE)
        s.bind(("127.0.5.1", 0))
        s.connect(("127.0.0.1", port))
        s.sendall(bytes.fromhex("80000001"))
        try:
            head = read_exact(s, 4)
            body = b"" if head == b"\x00\x00\x00\x00" or len(head) < 4 else read_exact(s, min(int.from_bytes(head, "big"), 4096))
        except socket.timeout:
            head, body = b"", b""
        s.close()
        if head == b"\x00\x00\x00\x00":
            accepted += 1
        elif body[:1] == b"\x7e" and b"RATE_LIMITED" in body:
            refused += 1
        else:
            other += 1
    # The per-source bucket holds 60 and refills one a second, so a flood
    # that lasts T seconds may see 60 + T accepted (a slow machine's T).
    elapsed = time.monotonic() - started
    bound = 60 + int(elapsed) + 1
    expect(accepted <= bound, f"at most 60 + 1/s STARTTLS from one network accepted ({accepted} in {elapsed:.1f} s, bound {bound})")
    expect(accepted >= 55, f"...and the first 60 or so are accepted ({accepted})")
    expect(refused >= 700 - bound, f"the rest refused with a framed KRB-ERROR RATE_LIMITED ({refused})")
    expect(other == 0, f"nothing else ({other} other answers)")
elif mode == "silent-after-tls":
    # COUNT peers from SOURCE (default 127.0.6.1, a /24 of their own) that present a valid
    # identity (CERT, KEY: DANE-valid for their host), complete STARTTLS and
    # the TLS 1.3 handshake, then send nothing. The service must let each go
    # within its KX-REQ bound (HOLD seconds at most), without blocking others.
    import ssl
    cert, key, count, hold = sys.argv[4], sys.argv[5], int(sys.argv[6]), float(sys.argv[7])
    source = sys.argv[8] if len(sys.argv) > 8 else "127.0.6.1"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE   # the peer under test is the server; this one only needs to get in
    context.load_cert_chain(cert, key)
    held = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        starttls(s)
        try:
            held.append(context.wrap_socket(s, server_hostname="kdc.service.test"))
        except (ssl.SSLError, OSError) as e:
            print("handshake failed:", e)
            s.close()
    expect(len(held) == count, f"{len(held)} of {count} peers completed TLS and went silent")
    sys.stdout.flush()
    deadline = time.monotonic() + hold
    let_go = 0
    for t in held:
        t.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if not t.recv(1):
                let_go += 1
        except socket.timeout:
            pass
        except (ssl.SSLError, OSError):
            let_go += 1
        t.close()
    expect(let_go == len(held), f"the service let go of {let_go} of {len(held)} silent sessions within {hold:.0f} s")
else:
    sys.exit("unknown mode " + mode)
