/// The effect ports an exchange drives. The core never performs I/O: it asks
/// a port to start an operation and names the stage callback its completion
/// calls. All completions run on the event-loop thread that owns the record.

/// Anything in flight that can be stopped; after `cancel()` its completion never runs.
public protocol Cancellable: AnyObject {
    func cancel()
}

/// Wall-clock time, as KerberosTime.
public protocol Clock: AnyObject {
    var now: KerberosTime { get }
}

/// Cryptographic randomness for salts; a generator for SRV weighting.
public protocol RandomSource: AnyObject {
    func bytes(_ count: Int) -> [UInt8]
    func number(below bound: Int) -> Int
}

public protocol Timers: AnyObject {
    @discardableResult
    func schedule(after seconds: Double, _ body: @escaping () -> Void) -> Cancellable
}

/// The client side's way to a peer KDC: one TCP connection per address tried.
public protocol PeerDialer: AnyObject {
    @discardableResult
    func connect(host: String, address: String, port: UInt16,
                 completion: @escaping (Result<PeerConnection, KXError>) -> Void) -> Cancellable
}

/// One TCP connection to a peer KDC, from STARTTLS to KX-REP.
public protocol PeerConnection: AnyObject {
    /// Sends `80 00 00 01` and reads the answer (spec §3.3).
    func startTLS(completion: @escaping (Result<Void, KXError>) -> Void)
    /// TLS client handshake through the TLS Pool: SNI `serverHost`, our
    /// identity `localHost`, DANE for the server at `_88._tcp.<serverHost>`.
    func handshake(serverHost: String, localHost: String, completion: @escaping (Result<Void, KXError>) -> Void)
    /// The TLS session as both kinds of exchange use it.
    var session: KXSession { get }
    func close()
}

/// An established TLS session (client or server side) carrying KX messages.
public protocol KXSession: AnyObject {
    /// The peer's DANE-validated KDC host name.
    var peerHost: String { get }
    /// Checks that the peer's certificate names `krbtgt/peerRealm@peerRealm`
    /// and ours names `krbtgt/ownRealm@ownRealm` (spec §4.3).
    func checkRealms(peerRealm: String, ownRealm: String, completion: @escaping (Result<Void, KXError>) -> Void)
    /// Sends one framed KX message.
    func send(_ message: [UInt8], completion: @escaping (Result<Void, KXError>) -> Void)
    /// Receives one framed KX message (bounded by TCPFraming.Limits.kx).
    func receive(completion: @escaping (Result<[UInt8], KXError>) -> Void)
    /// The RFC 5705 exporter over this session.
    func exportKey(label: String, context: [UInt8], length: Int, completion: @escaping (Result<KeyMaterial, KXError>) -> Void)
}

/// Per-stage bounds (spec §8.5); the overall deadline covers the whole exchange.
public struct CrossoverTimeouts: Sendable, Hashable {
    public var overall: Double
    public var connect: Double
    public var startTLS: Double
    public var handshake: Double
    public var reply: Double
    public var keyStore: Double

    public init(overall: Double, connect: Double = 5, startTLS: Double = 5, handshake: Double = 10, reply: Double = 10,
                keyStore: Double = 10) {
        self.overall = overall
        self.connect = connect
        self.startTLS = startTLS
        self.handshake = handshake
        self.reply = reply
        self.keyStore = keyStore
    }

    public static let client = CrossoverTimeouts(overall: 30)
    public static let server = CrossoverTimeouts(overall: 20)
}

/// What one local realm offers in exchanges.
public struct LocalRealmPolicy: Sendable, Hashable {
    public var realm: String
    /// The KDC host name our certificate and SRV records carry.
    public var kdcHost: String
    /// Etypes we can create, strictly rising.
    public var etypes: [Int32]
    public var keyLifetime: Int64
    /// Which peer realms this realm crosses with, in which direction.
    public var peers: PeerPolicy

    public init(realm: String, kdcHost: String, etypes: [Int32], keyLifetime: Int64 = LifetimePolicy.defaultLifetime,
                peers: PeerPolicy = .open) {
        self.realm = realm
        self.kdcHost = kdcHost
        self.etypes = etypes.sorted()
        self.keyLifetime = keyLifetime
        self.peers = peers
    }
}

/// One step of an exchange's history, typed: logging, metrics and status
/// each read what they need from it. Never key bytes.
public struct CrossoverEvent: Sendable, Hashable, CustomStringConvertible {
    public enum Outcome: Sendable, Hashable {
        /// The exchange entered `stage`; its work begins.
        case entered
        /// The exchange ended well (`stage` is the final one).
        case finished
        /// The exchange failed in `stage` with this code.
        case failed(KXError.Code)
    }

    public let exchange: String
    /// The stage entered, or the one the exchange failed in ("C9 KX-REP").
    public let stage: String
    public let outcome: Outcome
    public let detail: String

    public init(exchange: String, stage: String, outcome: Outcome = .entered, detail: String = "") {
        self.exchange = exchange
        self.stage = stage
        self.outcome = outcome
        self.detail = detail
    }

    /// True for the last event of an exchange.
    public var ends: Bool { outcome != .entered }

    /// The stage's number as logs and --debug-stop-at-stage name it ("C9").
    public var stageNumber: String { String(stage.prefix { $0 != " " }) }

    public var description: String {
        let failed = if case .failed = outcome { " failed" } else { "" }
        return "\(exchange) \(stage)\(failed)\(detail.isEmpty ? "" : ": " + detail)"
    }
}
