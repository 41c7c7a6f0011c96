import Glibc
import KXEventLoop

/// One public UDP socket. Each new datagram becomes a `RelayedRequest`; while
/// it is in flight or held, identical datagrams from the same client are that
/// client's retransmissions and are absorbed, so the client is answered once.
/// Once answered, the request is forgotten: a later duplicate goes to
/// krb5kdc again (whose lookaside cache answers it), in case our reply was lost.
final class UDPRelay {
    let fd: Int32
    let local: SocketAddress
    private unowned let context: FrontEndContext
    private var watch: Watch?
    private var inFlight: [InFlightKey: RelayedRequest] = [:]

    private struct InFlightKey: Hashable {
        let client: SocketAddress
        let request: [UInt8]
        /// Hashed once: a request is looked up, added and removed, and its
        /// bytes (hundreds of them) would otherwise be hashed each time.
        private let digest: Int

        init(client: SocketAddress, request: [UInt8]) {
            self.client = client
            self.request = request
            var hasher = Hasher()
            hasher.combine(client)
            request.withUnsafeBytes { hasher.combine(bytes: $0) }
            digest = hasher.finalize()
        }

        func hash(into hasher: inout Hasher) { hasher.combine(digest) }

        static func == (a: Self, b: Self) -> Bool {
            a.digest == b.digest && a.client == b.client && a.request == b.request
        }
    }

    /// Datagrams read per wake-up, so TCP clients are not starved under a flood.
    private static let readBurst = 64

    init(fd: Int32, local: SocketAddress, context: FrontEndContext) {
        self.fd = fd
        self.local = local
        self.context = context
    }

    var inFlightCount: Int { inFlight.count }

    func start() {
        watch = context.loop.watch(fd: fd, events: .readable) { [weak self] _ in self?.receive() }
    }

    func close() {
        watch?.cancel()
        watch = nil
        let requests = inFlight.values
        inFlight.removeAll()
        requests.forEach { $0.cancel() }
        Glibc.close(fd)
    }

    private func receive() {
        let scratch = context.scratch
        for _ in 0..<Self.readBurst {
            let (result, sender) = Sockets.receiveDatagram(fd, into: scratch.bytes)
            guard case .done(let count) = result else { return }
            guard count > 0, let sender else { continue }
            datagram(scratch.copy(count), from: sender)
        }
    }

    private func datagram(_ request: [UInt8], from client: SocketAddress) {
        let key = InFlightKey(client: client, request: request)
        if inFlight[key] != nil {
            context.counters.absorbedRetries += 1
            return
        }
        if let tooBig = context.backend.oversizedReplies.tooBigReply(for: request) {
            // krb5kdc would crash on this repeat (see OversizedReplyMemory).
            context.counters.tooBigAnsweredLocally += 1
            send(tooBig, to: client)
            return
        }
        guard context.udpInFlight < context.limits.maxUDPInFlight else {
            context.counters.udpOverloadDrops += 1
            return
        }
        context.counters.udpRequests += 1
        let relayed = RelayedRequest(
            request: request, client: RelayClient(transport: .udp, address: client), context: context,
            answer: { [weak self] reply in self?.answer(key, with: reply) },
            abandon: { [weak self] in self?.inFlight[key] = nil })
        inFlight[key] = relayed
        relayed.start()
    }

    private func answer(_ key: InFlightKey, with reply: [UInt8]) {
        inFlight[key] = nil
        if send(reply, to: key.client) { context.counters.udpReplies += 1 }
    }

    /// A full socket buffer or an unsendable size is counted, not retried:
    /// the client retransmits.
    @discardableResult
    private func send(_ datagram: [UInt8], to client: SocketAddress) -> Bool {
        guard case .done = Sockets.sendDatagram(fd, datagram, to: client) else {
            context.counters.clientSendErrors += 1
            return false
        }
        return true
    }
}
