import Glibc
import KXEventLoop
import KXOver
import KXTestSupport
import Logging
import TLSPool
@testable import KXDaemon

/// Virtual time for an engine: timers fire only when a test lets time pass.
final class VirtualPorts: Clock, RandomSource, Timers {
    private var elapsed: Double = 0
    private var timers: [(at: Double, id: Int, body: () -> Void)] = []
    private var nextID = 0
    private let start: Int64 = 1_800_000_000

    var now: KerberosTime { KerberosTime(secondsSinceEpoch: start + Int64(elapsed))! }
    /// Virtual seconds since the start, finer than `now`.
    var seconds: Double { elapsed }
    var uptime: Double { elapsed }
    func bytes(_ count: Int) -> [UInt8] { [UInt8](repeating: 7, count: count) }
    func number(below bound: Int) -> Int { 0 }

    final class Timer: Cancellable {
        weak var ports: VirtualPorts?
        let id: Int
        init(_ ports: VirtualPorts, _ id: Int) { self.ports = ports; self.id = id }
        func cancel() { ports?.timers.removeAll { $0.id == id } }
    }

    func schedule(after seconds: Double, _ body: @escaping () -> Void) -> Cancellable {
        nextID += 1
        timers.append((elapsed + seconds, nextID, body))
        return Timer(self, nextID)
    }

    /// Lets `seconds` pass, firing the timers due by then in order.
    func advance(_ seconds: Double) {
        let end = elapsed + seconds
        while let next = timers.filter({ $0.at <= end }).min(by: { $0.at < $1.at }) {
            timers.removeAll { $0.id == next.id }
            elapsed = next.at
            next.body()
        }
        elapsed = end
    }
}

/// A resolver whose queries wait until the test answers them.
final class HeldResolver: Resolver {
    final class Query: DNSQuery {
        let name: String
        let type: DNSRecordType
        let completion: (Result<DNSAnswer, DNSFailure>) -> Void
        var cancelled = false
        init(_ name: String, _ type: DNSRecordType, _ completion: @escaping (Result<DNSAnswer, DNSFailure>) -> Void) {
            self.name = name
            self.type = type
            self.completion = completion
        }
        func cancel() { cancelled = true }
    }

    private(set) var queries: [Query] = []

    func query(_ name: String, _ type: DNSRecordType, completion: @escaping (Result<DNSAnswer, DNSFailure>) -> Void) -> DNSQuery {
        let query = Query(name, type, completion)
        queries.append(query)
        return query
    }

    /// The queries still waiting (asked, neither answered nor cancelled).
    var pending: [Query] { queries.filter { !$0.cancelled } }

    /// Answers every pending query with `failure`.
    func failAll(_ failure: DNSFailure) {
        let waiting = pending
        queries.removeAll()
        for query in waiting { query.completion(.failure(failure)) }
    }
}

/// A key store whose inspections answer from a script, at once.
final class ScriptedKeyStore: KeyStore {
    var entry: Result<KeyStoreEntry, KXError> = .success(.absent)
    private(set) var inspections = 0
    private(set) var writes = 0

    func inspect(_ principal: Principal, completion: @escaping (Result<KeyStoreEntry, KXError>) -> Void) {
        inspections += 1
        completion(entry)
    }

    func store(_ write: CrossoverKeyWrite, completion: @escaping (Result<KeyWriteOutcome, KXError>) -> Void) {
        writes += 1
        completion(.failure(KXError(.keyStoring, "a test store writes nothing")))
    }
}

/// An engine for CLIENT.TEST on virtual time, with a held resolver and a
/// scripted KDB. Its TLS Pool is one end of a socketpair nobody serves: no
/// exchange here gets as far as TLS.
final class EngineBench {
    let loop: EventLoop
    let ports = VirtualPorts()
    let resolver = HeldResolver()
    let store = ScriptedKeyStore()
    let engine: CrossoverEngine
    private let pool: TLSPoolClient
    private let poolPeer: Int32

    static let local = "CLIENT.TEST"
    static let remote = "SERVICE.TEST"

    init(hostBasedTriggers: Bool = false) throws {
        loop = try EventLoop()
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else { throw TestFailure("socketpair") }
        poolPeer = pair[1]
        pool = TLSPoolClient(connection: try TLSPoolConnection(adopting: pair[0]), loop: loop)
        let policy = LocalRealmPolicy(realm: Self.local, kdcHost: "kdc.client.test", etypes: [17, 18])
        engine = CrossoverEngine(loop: loop, realms: [.init(policy: policy, keyStore: store)], resolver: resolver, pool: pool,
                                 logger: Logger(label: "engine-test"), hostBasedTriggers: hostBasedTriggers, ports: ports)
    }

    deinit {
        engine.cancelAll()
        pool.close()
        close(poolPeer)
    }

    var client: RelayClient { RelayClient(transport: .udp, address: try! SocketAddress(parsing: "127.0.0.1:40000")) }

    /// A key for krbtgt/REMOTE@LOCAL valid from an hour ago for a day.
    var usableKey: KeyStoreEntry {
        let now = ports.now.secondsSinceEpoch
        return .managed(ManagedKeySet(principal: .crossover(client: Self.local, service: Self.remote), versions: [
            .init(kvno: 1, etypes: [18], from: KerberosTime(secondsSinceEpoch: now - 3600), till: KerberosTime(secondsSinceEpoch: now + 86_400)),
        ]))
    }

    /// A TGS-REQ (RFC 4120 §5.4.1) to `realm` for `sname`.
    static func tgsRequest(realm: String = local, nameType: Int32 = NameType.serviceInstance,
                           sname: [String] = ["krbtgt", remote], canonicalize: Bool = false) -> [UInt8] {
        func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
            precondition(content.count < 128)
            return [tag, UInt8(content.count)] + content
        }
        func string(_ s: String) -> [UInt8] { tlv(0x1B, Array(s.utf8)) }
        let options: UInt32 = canonicalize ? 1 << (31 - 15) : 0
        let optionBytes: [UInt8] = [0x00] + withUnsafeBytes(of: options.bigEndian) { Array($0) }
        let name = tlv(0x30, tlv(0xA0, [0x02, 0x01, UInt8(nameType)]) + tlv(0xA1, tlv(0x30, sname.flatMap(string))))
        let body = tlv(0x30, tlv(0xA0, tlv(0x03, optionBytes)) + tlv(0xA2, string(realm)) + tlv(0xA3, name)
                        + tlv(0xA5, [0x18, 0x0F] + Array("20370101000000Z".utf8))
                        + tlv(0xA7, [0x02, 0x01, 0x2A]) + tlv(0xA8, tlv(0x30, [0x02, 0x01, 0x12])))
        return tlv(0x6C, tlv(0x30, tlv(0xA1, [0x02, 0x01, 0x05]) + tlv(0xA2, [0x02, 0x01, 0x0C]) + tlv(0xA4, body)))
    }

    /// krb5kdc's answer when it has no such principal.
    func principalUnknown() -> [UInt8] {
        KRBError.make(code: KerberosErrorCode.serverPrincipalUnknown, realm: Self.local, now: ports.now).derEncoded
    }
}
