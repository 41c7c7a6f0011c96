import KXOver

/// A scripted world for the crossover records: virtual time, a run queue,
/// and fakes for every port. Nothing here does I/O.
final class FakeWorld: Clock, RandomSource, Timers {
    var time: Int64
    private var queue: [() -> Void] = []
    private var timers: [(at: Double, id: Int, body: () -> Void)] = []
    private var virtual: Double = 0
    private var nextID = 0
    private var counter: UInt8 = 0
    /// Everything the fakes did, in order ("store CLIENT.TEST kvno 31280", "send KX-REP", ...).
    var events: [String] = []

    init(now: String = "20261128120000Z") { time = try! KerberosTime(now).secondsSinceEpoch }

    var now: KerberosTime { KerberosTime(secondsSinceEpoch: time + Int64(virtual))! }
    var uptime: Double { virtual }

    func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in counter &+= 1; return counter } }
    func number(below bound: Int) -> Int { 0 }

    final class Timer: Cancellable {
        weak var world: FakeWorld?
        let id: Int
        init(world: FakeWorld, id: Int) { self.world = world; self.id = id }
        func cancel() { world?.timers.removeAll { $0.id == id } }
    }

    func schedule(after seconds: Double, _ body: @escaping () -> Void) -> Cancellable {
        nextID += 1
        timers.append((virtual + seconds, nextID, body))
        return Timer(world: self, id: nextID)
    }

    func later(_ body: @escaping () -> Void) { queue.append(body) }

    /// Runs queued work until none is left (timers do not fire).
    func settle() {
        while !queue.isEmpty { queue.removeFirst()() }
    }

    /// Lets virtual time pass, firing due timers in order.
    func advance(_ seconds: Double) {
        settle()
        let end = virtual + seconds
        while let next = timers.filter({ $0.at <= end }).min(by: { $0.at < $1.at }) {
            timers.removeAll { $0.id == next.id }
            virtual = next.at
            next.body()
            settle()
        }
        virtual = end
    }
}

final class FakeQuery: DNSQuery {
    var cancelled = false
    func cancel() { cancelled = true }
}

/// Answers from a table; unknown names get a secure NXDOMAIN.
final class FakeResolver: Resolver {
    let world: FakeWorld
    var answers: [String: Result<DNSAnswer, DNSFailure>] = [:]
    /// Every name asked, in order.
    var asked: [String] = []

    init(world: FakeWorld) { self.world = world }

    func set(_ name: String, _ type: DNSRecordType, _ rdata: [[UInt8]]) {
        set(name, type, .secure, rdata)
    }

    func set(_ name: String, _ type: DNSRecordType, _ security: DNSSecurity, _ rdata: [[UInt8]]) {
        answers["\(name)/\(type)"] = .success(DNSAnswer(name: name, type: type, security: security, nameDoesNotExist: rdata.isEmpty, rdata: rdata))
    }

    func query(_ name: String, _ type: DNSRecordType, completion: @escaping (Result<DNSAnswer, DNSFailure>) -> Void) -> DNSQuery {
        let query = FakeQuery()
        asked.append(name)
        let answer = answers["\(name)/\(type)"] ?? .success(DNSAnswer(name: name, type: type, security: .secure, nameDoesNotExist: true, rdata: []))
        world.later { if !query.cancelled { completion(answer) } }
        return query
    }

    static func txt(_ text: String) -> [UInt8] { [UInt8(text.utf8.count)] + Array(text.utf8) }
    static func srv(_ priority: UInt16, _ port: UInt16, _ target: String) -> [UInt8] {
        var out: [UInt8] = [UInt8(priority >> 8), UInt8(priority & 0xFF), 0, 0, UInt8(port >> 8), UInt8(port & 0xFF)]
        for label in target.split(separator: ".") { out.append(UInt8(label.utf8.count)); out += Array(label.utf8) }
        return out + [0]
    }
}

/// An in-memory key store that remembers digests of what it was given.
final class FakeKeyStore: KeyStore {
    let world: FakeWorld
    let name: String
    var entries: [Principal: KeyStoreEntry] = [:]
    var stored: [(principal: Principal, kvno: UInt32, etypes: [Int32], bytes: [UInt8])] = []
    var failure: KXError?
    /// Every principal read, in order.
    var inspected: [Principal] = []

    init(world: FakeWorld, name: String) { self.world = world; self.name = name }

    func inspect(_ principal: Principal, completion: @escaping (Result<KeyStoreEntry, KXError>) -> Void) {
        inspected.append(principal)
        let entry = entries[principal] ?? .absent
        world.later { completion(.success(entry)) }
    }

    func store(_ write: CrossoverKeyWrite, completion: @escaping (Result<KeyWriteOutcome, KXError>) -> Void) {
        let bytes = write.material.withUnsafeBytes { Array($0) }
        world.later { [self] in
            if let failure { completion(.failure(failure)); return }
            world.events.append("store \(name) kvno \(write.kvno)")
            stored.append((write.principal, write.kvno, write.layout.etypes, bytes))
            completion(.success(.written))
        }
    }
}

/// Both ends of one fake TLS session; the exporter mixes a shared secret
/// with label and context, so equal inputs give equal bytes on both ends.
final class FakeSessionPair {
    let world: FakeWorld
    let secret: UInt64
    lazy var client = End(pair: self, peerHost: "kdc.service.test", name: "client")
    lazy var server = End(pair: self, peerHost: "kdc.client.test", name: "server")

    init(world: FakeWorld, secret: UInt64 = 42) { self.world = world; self.secret = secret }

    final class End: KXSession {
        unowned let pair: FakeSessionPair
        var peerHost: String
        let name: String
        var inbox: [[UInt8]] = []
        var waiting: ((Result<[UInt8], KXError>) -> Void)?
        weak var other: End?
        var realmCheckFailure: KXError?
        var sendFailure: KXError?
        var exportFailure: KXError?
        var onFirstMessage: (([UInt8]) -> Void)?
        /// Every message sent, unframed.
        var sent: [[UInt8]] = []

        init(pair: FakeSessionPair, peerHost: String, name: String) { self.pair = pair; self.peerHost = peerHost; self.name = name }

        func checkRealms(peerRealm: String, ownRealm: String, completion: @escaping (Result<Void, KXError>) -> Void) {
            let failure = realmCheckFailure
            pair.world.later { completion(failure.map { .failure($0) } ?? .success(())) }
        }

        /// Sends whose delivery waits for the test (`releaseSends`).
        var holdingSends = false
        var heldSends: [() -> Void] = []

        func releaseSends() {
            let held = heldSends
            heldSends = []
            held.forEach { $0() }
        }

        func send(_ message: [UInt8], completion: @escaping (Result<Void, KXError>) -> Void) {
            if let sendFailure { pair.world.later { completion(.failure(sendFailure)) }; return }
            let kind = [0x72: "KX-REQ", 0x73: "KX-REP", 0x7E: "KRB-ERROR"][message.first ?? 0] ?? "?"
            pair.world.events.append("\(name) sends \(kind)")
            sent.append(message)
            if holdingSends {
                heldSends.append { [self] in pair.world.later { completion(.success(())) } }
                return
            }
            pair.world.later { [self] in
                completion(.success(()))
                if let handler = other?.onFirstMessage {
                    other?.onFirstMessage = nil
                    handler(message)
                } else {
                    other?.deliver(message)
                }
            }
        }

        func deliver(_ message: [UInt8]) {
            if let waiting {
                self.waiting = nil
                waiting(.success(message))
            } else {
                inbox.append(message)
            }
        }

        func receive(completion: @escaping (Result<[UInt8], KXError>) -> Void) {
            if !inbox.isEmpty {
                let message = inbox.removeFirst()
                pair.world.later { completion(.success(message)) }
            } else {
                waiting = completion
            }
        }

        func exportKey(label: String, context: [UInt8], length: Int, completion: @escaping (Result<KeyMaterial, KXError>) -> Void) {
            if let exportFailure { pair.world.later { completion(.failure(exportFailure)) }; return }
            var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ pair.secret
            for b in Array(label.utf8) + context { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            let material = KeyMaterial(count: length)
            material.withUnsafeMutableBytes { out in
                for i in 0..<length { h = (h ^ UInt64(i)) &* 0x100_0000_01b3; out[i] = UInt8(truncatingIfNeeded: h >> 17) }
            }
            pair.world.later { completion(.success(material)) }
        }
    }
}

/// Dials into scripted connections: per address, a failure or a connection.
final class FakeDialer: PeerDialer {
    let world: FakeWorld
    var refuse: Set<String> = []
    var connections: [FakeConnection] = []
    var makeConnection: () -> FakeConnection

    init(world: FakeWorld, makeConnection: @escaping () -> FakeConnection) {
        self.world = world
        self.makeConnection = makeConnection
    }

    func connect(host: String, address: String, port: UInt16, completion: @escaping (Result<PeerConnection, KXError>) -> Void) -> Cancellable {
        let query = FakeQuery()
        world.events.append("connect \(address):\(port)")
        let refused = refuse.contains(address)
        world.later { [self] in
            guard !query.cancelled else { return }
            if refused { completion(.failure(KXError(.connect, "connection refused by \(address)"))); return }
            let connection = makeConnection()
            connections.append(connection)
            completion(.success(connection))
        }
        return query
    }
}

final class FakeConnection: PeerConnection {
    let world: FakeWorld
    let session: KXSession
    var startTLSFailure: KXError?
    var handshakeFailure: KXError?
    var closed = false

    init(world: FakeWorld, session: KXSession) { self.world = world; self.session = session }

    func startTLS(completion: @escaping (Result<Void, KXError>) -> Void) {
        let failure = startTLSFailure
        world.later { completion(failure.map { .failure($0) } ?? .success(())) }
    }

    func handshake(serverHost: String, localHost: String, completion: @escaping (Result<Void, KXError>) -> Void) {
        let failure = handshakeFailure
        world.later { completion(failure.map { .failure($0) } ?? .success(())) }
    }

    func close() { closed = true }
}
