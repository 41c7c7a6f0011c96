import Glibc
import KXEventLoop
import KXOver

/// One request on its way to krb5kdc. Cancelling drops the completion.
protocol BackendExchange: AnyObject {
    func cancel()
}

typealias BackendCompletion = (Result<[UInt8], RelayFailure>) -> Void

/// The loopback krb5kdc behind the front end. Sends one request at a time per
/// exchange, over UDP (spec §3.4 retries) or over a fresh TCP connection (MIT
/// serves one request per TCP connection). Completions always come later on
/// the loop, never from inside `send`.
///
/// TCP exchanges run a few at a time and queue otherwise: krb5kdc listens
/// with a backlog of 5 (a burst of connects beyond it stalls for a SYN
/// retransmission, a second or more) and drops its oldest connection when it
/// has more than 45. It serves one request at a time anyway.
final class BackendKDC {
    let address: SocketAddress
    let loop: EventLoop
    let limits: FrontEndConfiguration.Limits
    let scratch: ScratchBuffer
    /// Connected UDP sockets whose last exchange was one send and one reply:
    /// nothing more can arrive on them, so the next request may reuse them.
    private var idleUDPSockets: [BackendUDPSocket] = []
    private var runningTCP = 0
    private var queuedTCP: [BackendTCPExchange] = []
    private(set) var isClosed = false
    let tcpClientPolicy: FrontEndConfiguration.TCPClientBackendPolicy
    /// TCP clients' requests sent again over TCP after a too-big UDP answer.
    var tooBigFallbacks = 0
    /// Requests krb5kdc must never see over UDP again.
    let oversizedReplies: OversizedReplyMemory

    init(address: SocketAddress, loop: EventLoop, limits: FrontEndConfiguration.Limits,
         tcpClientPolicy: FrontEndConfiguration.TCPClientBackendPolicy, realm: String, scratch: ScratchBuffer) {
        oversizedReplies = OversizedReplyMemory(lifetime: limits.oversizedReplyMemory, capacity: limits.oversizedReplyCapacity, realm: realm)
        self.address = address
        self.loop = loop
        self.limits = limits
        self.tcpClientPolicy = tcpClientPolicy
        self.scratch = scratch
    }

    deinit { close() }

    /// Sends a client's request the way its transport and the policy say:
    /// a TCP client's small request over UDP first (unless krb5kdc's reply to
    /// it was too big for UDP before), everything else over its own transport.
    /// A request that does not decode goes over TCP: krb5kdc ignores such a
    /// datagram (the client would wait out every UDP retry) but closes a TCP
    /// connection at once, and the front end then closes the client's.
    func relay(_ request: [UInt8], from client: RelayTransport, completion: @escaping BackendCompletion) -> BackendExchange {
        switch (client, tcpClientPolicy) {
        case (.tcp, .udpFirst(let maxUDPRequest)) where request.count <= maxUDPRequest && !oversizedReplies.contains(request)
            && (try? KDCRequestPeek(derEncoded: request)) != nil:
            let exchange = BackendUDPFirstExchange(request: request, backend: self, completion: completion)
            exchange.start()
            return exchange
        default:
            return send(request, over: client, completion: completion)
        }
    }

    func send(_ request: [UInt8], over transport: RelayTransport, completion: @escaping BackendCompletion) -> BackendExchange {
        switch transport {
        case .udp:
            let exchange = BackendUDPExchange(request: request, backend: self, completion: completion)
            exchange.start()
            return exchange
        case .tcp:
            let exchange = BackendTCPExchange(request: request, backend: self, completion: completion)
            exchange.armDeadline()
            if runningTCP < limits.backendTCPConcurrency {
                runningTCP += 1
                exchange.connect()
            } else {
                queuedTCP.append(exchange)
            }
            return exchange
        }
    }

    /// A TCP exchange that was running has ended: start the next queued one.
    func tcpExchangeEnded() {
        runningTCP -= 1
        while runningTCP < limits.backendTCPConcurrency, !queuedTCP.isEmpty {
            let next = queuedTCP.removeFirst()
            guard next.isWaiting else { continue }
            runningTCP += 1
            next.connect()
        }
    }

    /// A queued TCP exchange gave up (cancelled or timed out) before it ran.
    func tcpExchangeLeftQueue(_ exchange: BackendTCPExchange) {
        queuedTCP.removeAll { $0 === exchange }
    }

    func takeUDPSocket() throws(RelayFailure) -> BackendUDPSocket {
        if isClosed { throw .cancelled }
        if let socket = idleUDPSockets.popLast() { return socket }
        return try BackendUDPSocket(connectedTo: address, loop: loop)
    }

    func recycleUDPSocket(_ socket: BackendUDPSocket) {
        if !isClosed && idleUDPSockets.count < limits.backendUDPSocketPool {
            idleUDPSockets.append(socket)
        } else {
            socket.close()
        }
    }

    func close() {
        isClosed = true
        queuedTCP.removeAll()
        idleUDPSockets.forEach { $0.close() }
        idleUDPSockets.removeAll()
    }
}
