import Dispatch
import Glibc
import KXEventLoop
import KXOver

/// One client TCP connection to the public KDC port (spec §8.4): framed
/// messages are relayed one at a time; STARTTLS hands the socket to the
/// acceptor, unless it refuses (a KRB-ERROR 60 with its code); PROBE,
/// unknown flags and over-long frames get a KRB-ERROR 61; frames below the
/// minimum and messages other than AS-REQ and TGS-REQ (KX messages without
/// TLS among them) end the connection at once.
///
///     serving ─80000001→ startingTLS ─accept word sent→ handed off
///     serving ─refusal→ lingering ─EOF or linger timeout→ finished
///     serving ─not AS-REQ/TGS-REQ, too short, idle, error, EOF→ finished
final class TCPClientConnection {
    private enum Phase { case serving, startingTLS, lingering, finished }

    let peer: SocketAddress
    let local: SocketAddress?
    private var fd: Int32
    private unowned let context: FrontEndContext
    private var phase = Phase.serving
    private var reader: TCPFrameReader
    private var readWatch: Watch?
    private var writeWatch: Watch?
    /// Idle deadline while serving (set when we start waiting for a message,
    /// not pushed back by partial bytes), or the linger deadline: one timer
    /// set again for each message, not a new one.
    private lazy var deadline = context.loop.timer { [weak self] in self?.deadlinePassed() }
    private var outbound: [UInt8] = []
    private var outboundSent = 0
    /// The message being relayed or held; the next one waits in `reader`.
    private var request: RelayedRequest?
    /// While lingering: the client has closed its side.
    private var clientDoneSending = false
    /// Since when the connection has waited for a message with nothing in
    /// progress (nil: a request is being relayed or held, or it is past serving).
    /// The oldest idle connection is the one evicted when the cap is reached.
    private(set) var idleSince: UInt64?

    init(fd: Int32, peer: SocketAddress, local: SocketAddress?, context: FrontEndContext) {
        self.fd = fd
        self.peer = peer
        self.local = local
        self.context = context
        reader = TCPFrameReader(limits: context.limits.frameLimits)
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    func start() {
        advance()
    }

    /// The front end closes: drop everything, answer nothing.
    func close() {
        finish()
    }

    // MARK: - Reading

    private func readable() {
        switch Sockets.read(fd, into: context.scratch.bytes) {
        case .done(let count):
            if phase == .lingering { return }   // draining: the bytes are dropped
            reader.append(UnsafeRawBufferPointer(rebasing: context.scratch.bytes[0..<count]))
            advance()
        case .wouldBlock:
            return
        case .endOfStream:
            // Like krb5kdc, EOF means the client is gone (Kerberos clients do
            // not half-close): a request in progress is dropped with it.
            guard phase == .lingering else { return finish() }
            clientDoneSending = true
            readWatch?.cancel()
            readWatch = nil
            if !hasPendingOutput { finish() }
        case .failed:
            finish()
        }
    }

    /// Reads while serving unless the client has a whole next message queued
    /// behind the current one (bounded buffer) or has stopped sending.
    private func updateReadInterest() {
        let wanted: Bool
        switch phase {
        case .serving: wanted = reader.bufferedCount <= context.limits.frameLimits.maximum + 4
        case .lingering: wanted = !clientDoneSending
        case .startingTLS, .finished: wanted = false
        }
        if wanted && readWatch == nil {
            readWatch = context.loop.watch(fd: fd, events: .readable) { [weak self] _ in self?.readable() }
        } else if !wanted, let watch = readWatch {
            watch.cancel()
            readWatch = nil
        }
    }

    // MARK: - Serving

    /// Takes the next event from the reader when nothing else is going on:
    /// no request in progress and our last reply fully sent.
    private func advance() {
        defer { updateReadInterest() }
        guard phase == .serving, request == nil, !hasPendingOutput else { return }
        guard let event = reader.next() else {
            if !deadline.isSet {
                deadline.set(after: context.limits.idleTimeout)
                idleSince = DispatchTime.now().uptimeNanoseconds
            }
            return
        }
        deadline.clear()
        idleSince = nil
        switch event {
        case .message(let message):
            relay(message)
        case .startTLS:
            startTLS()
        case .probe:
            refuse("this KDC supports the RFC 5021 extensions 0x00000001 (STARTTLS)")
        case .unsupportedExtensions(let flags):
            refuse("unsupported RFC 5021 extension flags 0x" + String(flags, radix: 16))
        case .tooLong(let length):
            refuse("a \(length)-byte message is over the \(context.limits.frameLimits.maximum)-byte limit")
        case .tooShort:
            disconnect()
        }
    }

    private func relay(_ message: [UInt8]) {
        switch KerberosMessageClass(firstByte: message[0]) {
        case .asRequest, .tgsRequest:
            break
        default:
            // krb5kdc serves AS-REQ and TGS-REQ only and closes a TCP
            // connection on anything else, without an answer: so do we, at
            // once, rather than wait out its silence over UDP. (Spec §3.4:
            // KX-REQ needs TLS first; a KX-REP never goes to a server.)
            return disconnect()
        }
        context.counters.tcpRequests += 1
        let relayed = RelayedRequest(
            request: message, client: RelayClient(transport: .tcp, address: peer), context: context,
            answer: { [weak self] reply in self?.replied(reply) },
            abandon: { [weak self] in self?.finish() })
        request = relayed
        relayed.start()
    }

    private func replied(_ reply: [UInt8]) {
        request = nil
        // A frame carries under 2^31 bytes; an interceptor's bytes are not checked elsewhere.
        guard reply.count < Int(TCPFraming.extensionBit) else {
            context.counters.clientSendErrors += 1
            return finish()
        }
        context.counters.tcpReplies += 1
        send(TCPFraming.frame(reply))
    }

    private func deadlinePassed() {
        if phase == .serving { context.counters.protocolDisconnects += 1 }   // idle; else the linger ended
        finish()
    }

    private func disconnect() {
        context.counters.protocolDisconnects += 1
        finish()
    }

    // MARK: - STARTTLS and refusals

    private func startTLS() {
        guard let acceptor = context.startTLSAcceptor else { return refuse("STARTTLS is not offered here") }
        if let refusal = acceptor.refusal(ofStartTLSFrom: peer) { return refuse(context.refusal(telling: refusal)) }
        phase = .startingTLS
        send(TCPFraming.startTLSAccepted)
    }

    /// After `00 00 00 00` is out: the socket, and what the client sent past
    /// its STARTTLS word, go to the acceptor; this object lets go of both.
    private func handOff() {
        let context = self.context
        guard let acceptor = context.startTLSAcceptor else { return finish() }
        let handoff = StartTLSHandoff(fd: fd, pendingBytes: reader.takeBuffered(), peer: peer, local: local)
        fd = -1
        finish()   // forgets the socket without closing it
        context.counters.startTLSHandoffs += 1
        acceptor.acceptStartTLS(handoff)
    }

    /// Sends a KRB-ERROR 61, then closes once it is out and the client's
    /// input is drained (closing with unread input would reset the
    /// connection and could destroy the error before the client reads it).
    private func refuse(_ text: String) {
        refuse(context.refusal(text))
    }

    /// Sends `frame` (a framed KRB-ERROR) and closes the same way.
    private func refuse(_ frame: [UInt8]) {
        context.counters.refusals += 1
        phase = .lingering
        deadline.set(after: context.limits.lingerTimeout)
        send(frame)
    }

    // MARK: - Writing

    private var hasPendingOutput: Bool { outboundSent < outbound.count }

    private func send(_ bytes: [UInt8]) {
        outbound += bytes
        flush()
    }

    private func flush() {
        while hasPendingOutput {
            let result = outbound.withUnsafeBytes { Sockets.write(fd, UnsafeRawBufferPointer(rebasing: $0[outboundSent...])) }
            switch result {
            case .done(let count):
                outboundSent += count
            case .wouldBlock:
                if writeWatch == nil {
                    writeWatch = context.loop.watch(fd: fd, events: .writable) { [weak self] _ in self?.flush() }
                }
                return
            case .endOfStream, .failed:
                context.counters.clientSendErrors += 1
                return finish()
            }
        }
        outbound.removeAll(keepingCapacity: outbound.count <= 4096)
        outboundSent = 0
        writeWatch?.cancel()
        writeWatch = nil
        sent()
    }

    /// Everything queued has reached the kernel.
    private func sent() {
        switch phase {
        case .serving:
            advance()
        case .startingTLS:
            handOff()
        case .lingering:
            shutdown(fd, Int32(SHUT_WR))
            if clientDoneSending { finish() } else { updateReadInterest() }
        case .finished:
            break
        }
    }

    // MARK: - End

    private func finish() {
        guard phase != .finished else { return }
        phase = .finished
        readWatch?.cancel()
        readWatch = nil
        writeWatch?.cancel()
        writeWatch = nil
        deadline.clear()
        request?.cancel()
        request = nil
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        context.connectionEnded(self)
    }
}
