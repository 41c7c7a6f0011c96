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
    /// Seconds on a clock that only moves forward (only differences count):
    /// how long a stage took.
    var uptime: Double { get }
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

    /// A stage and the time the exchange spent in it.
    public struct StageTime: Sendable, Hashable {
        public let stage: CrossoverStage
        public let seconds: Double

        public init(stage: CrossoverStage, seconds: Double) {
            self.stage = stage
            self.seconds = seconds
        }
    }

    public let exchange: String
    /// The stage entered, or the one the exchange failed in.
    public let stage: CrossoverStage
    public let outcome: Outcome
    public let detail: String
    /// Seconds since the exchange began.
    public let elapsed: Double
    /// The stage this event ended, with its duration: the one before `stage`
    /// when a stage is entered, `stage` itself when it failed; nil at the start.
    public let ended: StageTime?

    public init(exchange: String, stage: CrossoverStage, outcome: Outcome = .entered, detail: String = "",
                elapsed: Double = 0, ended: StageTime? = nil) {
        self.exchange = exchange
        self.stage = stage
        self.outcome = outcome
        self.detail = detail
        self.elapsed = elapsed
        self.ended = ended
    }

    public var description: String {
        let failed = if case .failed = outcome { " failed" } else { "" }
        return "\(exchange) \(stage)\(failed)\(detail.isEmpty ? "" : ": " + detail)"
    }
}

/// A stage of either record, typed; logs and metrics use its name.
public enum CrossoverStage: Sendable, Hashable, CustomStringConvertible {
    case client(ClientCrossover.Stage)
    case server(ServerCrossover.Stage)

    public enum Side: String, Sendable { case client, server }

    public var side: Side {
        switch self {
        case .client: .client
        case .server: .server
        }
    }

    /// As logged: "C9 KX-REP".
    public var name: String {
        switch self {
        case .client(let stage): stage.rawValue
        case .server(let stage): stage.rawValue
        }
    }

    /// As logs and --debug-stop-at-stage name it: "C9".
    public var number: String { String(name.prefix { $0 != " " }) }

    public var description: String { name }
}

/// A record's stage type: each names its place among the crossover stages.
protocol RecordStage: RawRepresentable, Equatable where RawValue == String {
    var crossoverStage: CrossoverStage { get }
}

extension ClientCrossover.Stage: RecordStage {
    var crossoverStage: CrossoverStage { .client(self) }
}

extension ServerCrossover.Stage: RecordStage {
    var crossoverStage: CrossoverStage { .server(self) }
}
