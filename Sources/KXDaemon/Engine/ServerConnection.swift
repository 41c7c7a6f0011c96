import Glibc
import KXEventLoop
import KXOver
import Logging
import TLSPool

/// One connection a peer KDC opened to us and upgraded with STARTTLS: the
/// TLS Pool handshake in the server role (the LOCALID callback accepts only
/// our own KDC host names), then any number of KX-REQ/KX-REP exchanges.
final class ServerConnection {
    private let handoff: StartTLSHandoff
    private weak var engine: CrossoverEngine?
    private let pool: TLSPoolClient
    private let loop: EventLoop
    private let logger: Logger
    private var exchange: StartTLS?
    private var session: PoolKXSession?
    private var record: ServerCrossover?
    private var idle: Watch?
    private var closed = false

    /// How long a connection may sit between exchanges.
    static let idleSeconds = 10.0

    init(handoff: StartTLSHandoff, engine: CrossoverEngine, pool: TLSPoolClient, loop: EventLoop, logger: Logger) {
        self.handoff = handoff
        self.engine = engine
        self.pool = pool
        self.loop = loop
        self.logger = logger
    }

    func start() {
        // RFC 6251: the client waits for our 00 00 00 00 before its ClientHello;
        // bytes that came earlier are a protocol violation.
        guard handoff.pendingBytes.isEmpty else {
            logger.warning("\(handoff.peer): data before the STARTTLS answer; closing")
            Glibc.close(handoff.fd)
            return close()
        }
        let hosts = engine?.kdcHosts ?? []
        let exchange = StartTLS(client: pool, tcpSocket: handoff.fd, parameters: .kxoverServer(checkLocalID: true),
                                localIDHandler: { proposed, _ in
                                    hosts.contains(proposed.lowercased())
                                        ? .accept(localID: proposed)
                                        : .decline(code: TLSPoolErrorCode.stirredNotShaken.rawValue, message: "not a KDC host name of ours: \(proposed)")
                                }) { [weak self] result in self?.handshakeDone(result) }
        self.exchange = exchange
        exchange.start()
    }

    private func handshakeDone(_ result: Result<TLSPoolSession, TLSPoolError>) {
        exchange = nil
        switch result {
        case .failure(let error):
            logger.notice("\(handoff.peer): TLS handshake failed: \(error)")
            if let alert = error.alertToPeer { engine?.noteAlertSent(to: handoff.peer, alert) }
            close()
        case .success(let tls):
            do {
                session = try PoolKXSession(session: tls, loop: loop)
                logger.info("\(handoff.peer): TLS with \(session!.peerHost)")
                awaitRequest()
            } catch {
                close()
            }
        }
    }

    private func awaitRequest() {
        guard let session else { return }
        idle = loop.schedule(after: Self.idleSeconds) { [weak self] in
            guard let self else { return }
            // A peer that authenticated and then says nothing: let it go, and say so.
            logger.info("\(handoff.peer): no KX-REQ within \(Int(Self.idleSeconds)) s after TLS; closing")
            close()
        }
        session.receive { [weak self] result in self?.requestArrived(result) }
    }

    private func requestArrived(_ result: Result<[UInt8], KXError>) {
        idle?.cancel()
        guard let session, let engine, case .success(let frame) = result else { return close() }
        guard frame.first == 0x72 else {
            logger.notice("\(handoff.peer): not a KX-REQ inside TLS; closing")
            return close()
        }
        let record = engine.makeServerRecord(frame: frame, session: session) { [weak self] result in
            self?.record = nil
            // Success: more exchanges may follow. Failure: the record has told the client why; close.
            if case .success = result { self?.awaitRequest() } else { self?.close() }
        }
        self.record = record
        record.start()
    }

    func close() {
        guard !closed else { return }
        closed = true
        idle?.cancel()
        exchange?.abandon()
        exchange = nil
        record?.cancel()
        record = nil
        session?.close()
        session = nil
        engine?.serverConnectionClosed(self)
    }
}
