import Glibc
import KXEventLoop
import KXOver

/// The public KDC port of kxoverd (UDP and TCP), in front of krb5kdc on a
/// loopback port: ordinary Kerberos is relayed untouched, the engine may hold
/// and replay requests (`RelayInterceptor`), and STARTTLS connections go to
/// the engine (`StartTLSAcceptor`). Everything runs on one event loop; the
/// class belongs to that loop's thread.
public final class KDCFrontEnd {
    public let configuration: FrontEndConfiguration
    private let context: FrontEndContext
    private var started = false
    private var probes: [Int: (exchange: BackendExchange, completion: (Result<Void, RelayFailure>) -> Void)] = [:]
    private var probeSequence = 0

    /// Sees every request before krb5kdc and every reply before the client;
    /// nil relays at once. Held weakly (the engine owns the front end).
    public var interceptor: RelayInterceptor? {
        get { context.interceptor }
        set { context.interceptor = newValue }
    }
    /// Takes STARTTLS connections; nil answers STARTTLS with a KRB-ERROR 61.
    /// Held weakly.
    public var startTLSAcceptor: StartTLSAcceptor? {
        get { context.startTLSAcceptor }
        set { context.startTLSAcceptor = newValue }
    }

    public var counters: FrontEndCounters {
        var counters = context.counters
        counters.backendTooBigFallbacks = context.backend.tooBigFallbacks
        return counters
    }
    public var openTCPConnections: Int { context.connections.count }
    public var udpRequestsInFlight: Int { context.udpInFlight }
    /// Where the front end listens (ports filled in); empty before `start()`.
    public private(set) var boundAddresses: [SocketAddress] = []

    /// Checks the configuration; nothing is bound until `start()`.
    public init(configuration: FrontEndConfiguration, loop: EventLoop) throws {
        try configuration.limits.validate()
        guard !configuration.listen.isEmpty else { throw FrontEndError.badConfiguration("no listen address") }
        guard RealmName.isValid(configuration.realm) else {
            throw FrontEndError.badConfiguration("\"\(configuration.realm)\" is not a realm name")
        }
        self.configuration = configuration
        context = FrontEndContext(configuration: configuration, loop: loop)
    }

    deinit { close() }

    /// Binds every listen address (UDP and TCP) and starts serving. Throws,
    /// with nothing left bound, if any address cannot be bound.
    public func start() throws {
        guard !context.isClosed else { throw FrontEndError.closed }
        guard !started else { return }
        let sockets = try ListenerBinding.bind(configuration.listen, backlog: configuration.limits.listenBacklog)
        started = true
        for socket in sockets {
            let tcp = TCPListener(fd: socket.tcp, local: socket.address, context: context)
            let udp = UDPRelay(fd: socket.udp, local: socket.address, context: context)
            context.tcpListeners.append(tcp)
            context.udpRelays.append(udp)
            boundAddresses.append(socket.address)
            tcp.start()
            udp.start()
        }
    }

    /// Stops listening, closes every client and backend socket, and drops
    /// held requests (their `deliver` becomes a no-op, running replays
    /// complete with `.cancelled`). Idempotent.
    public func close() {
        cancelProbes()
        context.close()
    }

    /// Asks krb5kdc directly whether it serves our realm: an AS-REQ for a
    /// principal that need not exist must come back as a KRB-ERROR or AS-REP
    /// (over `transport`, with the usual retries and timeouts). The
    /// completion runs once, later on the loop; `.cancelled` after `close()`.
    public func probeBackend(over transport: RelayTransport = .udp,
                             completion: @escaping (Result<Void, RelayFailure>) -> Void) {
        let request = BackendProbeRequest.asRequest(
            client: "kxover-backend-probe", realm: configuration.realm, nonce: UInt32.random(in: 1...0x7FFF_FFFF),
            till: KerberosTime(secondsSinceEpoch: Int64(time(nil)) + 600) ?? KerberosTime(secondsSinceEpoch: 0)!)
        probeSequence += 1
        let number = probeSequence
        let exchange = context.backend.send(request, over: transport) { [weak self] result in
            guard let self, let probe = self.probes.removeValue(forKey: number) else { return }
            probe.completion(result.flatMap { reply in
                switch reply.first.map(KerberosMessageClass.init(firstByte:)) {
                case .krbError?, .asReply?: .success(())
                default: .failure(.backendReplyMalformed("the answer to an AS-REQ is neither KRB-ERROR nor AS-REP"))
                }
            })
        }
        probes[number] = (exchange, completion)
    }

    private func cancelProbes() {
        let pending = probes.values
        probes.removeAll()
        for probe in pending {
            probe.exchange.cancel()
            let completion = probe.completion
            context.loop.schedule(after: 0) { completion(.failure(.cancelled)) }
        }
    }
}
