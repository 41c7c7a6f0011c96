/// One client-side exchange (spec §8.2, C0–C11) as one record with a named
/// callback per stage. Each callback checks what arrived, records it, and
/// starts the next operation through a port; that operation's completion is
/// the next callback. `fail` unwinds exactly what is held; completion runs once.
public final class ClientCrossover {
    public enum Stage: String, Sendable, CaseIterable {
        case initialised = "C0 initialised"
        case localKeyCheck = "C0 local key check"
        case realmLookup = "C1 DNSSEC realm"
        case kdcLookup = "C2 DNSSEC KDC"
        case addressLookup = "C3 AAAA/A"
        case connecting = "C4 connecting"
        case startTLS = "C5 STARTTLS"
        case handshake = "C6 handshake"
        case realmsCheck = "C7 realms check"
        case sending = "C8 KX-REQ"
        case receiving = "C9 KX-REP"
        case deriving = "C10 key deriving"
        case storing = "C11 key storing"
        case finished = "finished"
        case failed = "failed"
    }

    /// What the exchange is for: a known service realm, or a host whose realm DNS names.
    public enum Target: Sendable, Hashable, CustomStringConvertible {
        case realm(String)
        case host(String)

        public var description: String {
            switch self {
            case .realm(let realm): return realm
            case .host(let host): return "the realm of host \(host)"
            }
        }
    }

    public typealias Success = CrossoverSuccess

    public struct Ports {
        public let lookups: KXOverLookups
        public let dialer: PeerDialer
        public let keyStore: KeyStore
        public let clock: Clock
        public let random: RandomSource
        public let timers: Timers

        public init(lookups: KXOverLookups, dialer: PeerDialer, keyStore: KeyStore, clock: Clock, random: RandomSource, timers: Timers) {
            self.lookups = lookups
            self.dialer = dialer
            self.keyStore = keyStore
            self.clock = clock
            self.random = random
            self.timers = timers
        }
    }

    public let id: String
    public let local: LocalRealmPolicy
    public let target: Target
    public var stage: Stage { trail.current }
    /// Every stage entered, in order.
    public var transcript: [Stage] { trail.history }
    public private(set) var serviceRealm: String?

    private let ports: Ports
    private let timeouts: CrossoverTimeouts
    private var trail: StageTrail<Stage>
    private var completion: ((Result<Success, KXError>) -> Void)?

    // What the stages share.
    private var existingKvnos: [UInt32] = []
    private var targets: ArraySlice<DNSRecords.SRV> = []
    private var currentTarget: DNSRecords.SRV?
    private var addresses: ArraySlice<String> = []
    private var connection: PeerConnection?
    private var requestOffer: KXOffer?
    private var keyInfo: KeyInfo?
    private var layout: KeySchedule.Layout?
    private let hold: ExchangeHold
    private var lastConnectError: KXError?

    public init(id: String, local: LocalRealmPolicy, target: Target, ports: Ports, timeouts: CrossoverTimeouts = .client,
                log: @escaping (CrossoverEvent) -> Void = { _ in }, completion: @escaping (Result<Success, KXError>) -> Void) {
        self.id = id
        self.local = local
        self.target = target
        self.ports = ports
        self.timeouts = timeouts
        trail = StageTrail(exchange: id, start: .initialised, log: log)
        self.completion = completion
        hold = ExchangeHold(timers: ports.timers)
        if case .realm(let realm) = target { serviceRealm = realm }
    }

    public var isDone: Bool { completion == nil }

    // MARK: - C0

    public func start() {
        guard stage == .initialised else { return }
        hold.startDeadline(timeouts.overall) { [weak self] in
            self?.fail(KXError(.timeout, "exchange not done within \(Int(self?.timeouts.overall ?? 0)) s"))
        }
        if case .realm(let realm) = target {
            guard RealmName.isValid(realm), realm != local.realm else {
                fail(KXError(.offerRealm, "cannot cross from \(local.realm) to \(realm)"))
                return
            }
        }
        enter(.localKeyCheck)
        // Before any network work: refuse at once if a manually managed key is in the way.
        if let realm = serviceRealm {
            inspectLocalKey(realm)
        } else {
            lookUpRealm()
        }
    }

    private func inspectLocalKey(_ realm: String) {
        let principal = Principal.crossover(client: local.realm, service: realm)
        ports.keyStore.inspect(principal) { [weak self] result in self?.localKeyInspected(result) }
    }

    private func localKeyInspected(_ result: Result<KeyStoreEntry, KXError>) {
        guard stage == .localKeyCheck || stage == .realmLookup else { return }
        switch result {
        case .failure(let error):
            fail(error)
        case .success(.foreign(let policy)):
            fail(KXError(.keyStoring, "\(Principal.crossover(client: local.realm, service: serviceRealm ?? "?")) exists with \(policy.map { "policy \($0)" } ?? "no policy") and is not managed by kxover"))
        case .success(.managed(let set)):
            existingKvnos = set.versions.map(\.kvno)
            lookUpKDCs()
        case .success(.absent):
            lookUpKDCs()
        }
    }

    // MARK: - C1

    private func lookUpRealm() {
        guard case .host(let host) = target else { return }
        enter(.realmLookup, host)
        hold.inFlight = ports.lookups.realm(ofHost: host) { [weak self] result in self?.realmResolved(result) }
    }

    private func realmResolved(_ result: Result<String, KXError>) {
        guard stage == .realmLookup else { return }
        switch result {
        case .failure(let error):
            fail(error)
        case .success(let realm):
            guard realm != local.realm else {
                fail(KXError(.offerRealm, "\(target) belongs to our own realm \(realm)"))
                return
            }
            serviceRealm = realm
            inspectLocalKey(realm)
        }
    }

    // MARK: - C2

    private func lookUpKDCs() {
        guard let realm = serviceRealm else { return }
        enter(.kdcLookup, realm)
        hold.inFlight = ports.lookups.kdcs(ofRealm: realm, random: SeededGenerator(ports.random)) { [weak self] result in
            self?.kdcsResolved(result)
        }
    }

    private func kdcsResolved(_ result: Result<[DNSRecords.SRV], KXError>) {
        guard stage == .kdcLookup else { return }
        switch result {
        case .failure(let error): fail(error)
        case .success(let records):
            targets = records[...]
            nextTarget()
        }
    }

    // MARK: - C3

    private func nextTarget() {
        guard let next = targets.popFirst() else {
            fail(lastConnectError.map { KXError(.connect, "no KXOVER server of \(serviceRealm ?? "?") reachable; last: \($0.detail)") }
                 ?? KXError(.connect, "no KXOVER server of \(serviceRealm ?? "?") reachable"))
            return
        }
        currentTarget = next
        enter(.addressLookup, next.description)
        hold.inFlight = ports.lookups.addresses(ofHost: next.target) { [weak self] result in self?.addressesResolved(result) }
    }

    private func addressesResolved(_ result: Result<[String], KXError>) {
        guard stage == .addressLookup else { return }
        switch result {
        case .failure(let error):
            // A bogus address answer is fatal (DNS_ERROR); an empty one just moves on.
            if error.code == .dnsError { fail(error); return }
            lastConnectError = error
            nextTarget()
        case .success(let list):
            addresses = list[...]
            nextAddress()
        }
    }

    // MARK: - C4

    private func nextAddress() {
        guard let target = currentTarget else { return }
        guard let address = addresses.popFirst() else {
            nextTarget()
            return
        }
        enter(.connecting, "\(target.target) [\(address)]:\(target.port)")
        armStage(timeouts.connect, "connect to \(address)") { [weak self] in
            self?.hold.inFlight?.cancel()
            self?.lastConnectError = KXError(.connect, "connect to [\(address)]:\(target.port) timed out")
            self?.nextAddress()
        }
        hold.inFlight = ports.dialer.connect(host: target.target, address: address, port: target.port) { [weak self] result in
            self?.connected(result)
        }
    }

    private func connected(_ result: Result<PeerConnection, KXError>) {
        guard stage == .connecting else {
            if case .success(let late) = result { late.close() }
            return
        }
        disarmStage()
        switch result {
        case .failure(let error):
            lastConnectError = error
            nextAddress()
        case .success(let connection):
            self.connection = connection
            enter(.startTLS)
            armStage(timeouts.startTLS, "STARTTLS reply")
            connection.startTLS { [weak self] result in self?.startTLSAccepted(result) }
        }
    }

    // MARK: - C5, C6

    private func startTLSAccepted(_ result: Result<Void, KXError>) {
        guard stage == .startTLS, let connection, let target = currentTarget else { return }
        disarmStage()
        if case .failure(let error) = result { fail(error); return }
        enter(.handshake, "SNI \(target.target)")
        armStage(timeouts.handshake, "TLS handshake")
        connection.handshake(serverHost: target.target, localHost: local.kdcHost) { [weak self] result in
            self?.handshakeDone(result)
        }
    }

    private func handshakeDone(_ result: Result<Void, KXError>) {
        guard stage == .handshake, let connection, let realm = serviceRealm else { return }
        disarmStage()
        if case .failure(let error) = result { fail(error); return }
        enter(.realmsCheck, "peer \(connection.session.peerHost)")
        armStage(timeouts.handshake, "realm checks")
        connection.session.checkRealms(peerRealm: realm, ownRealm: local.realm) { [weak self] result in
            self?.realmsChecked(result)
        }
    }

    // MARK: - C7, C8

    private func realmsChecked(_ result: Result<Void, KXError>) {
        guard stage == .realmsCheck, let connection, let realm = serviceRealm else { return }
        disarmStage()
        if case .failure(let error) = result { fail(error); return }
        let now = ports.clock.now
        guard let kvno = KvnoPolicy.next(now: now, existing: existingKvnos) else {
            fail(KXError(.rateLimited, "all ten kvno serials of today are used for \(realm)"))
            return
        }
        let offer = OfferBuilder.request(clientRealm: local.realm, serviceRealm: realm, now: now,
                                         salt: ports.random.bytes(Etype.maximumSeedLength), kvno: kvno,
                                         etypes: local.etypes, lifetime: local.keyLifetime)
        requestOffer = offer
        enter(.sending, "kvno \(kvno), etypes \(offer.etypes)")
        connection.session.send(KXMessage(kind: .request, offer: offer).derEncoded) { [weak self] result in
            self?.requestSent(result)
        }
    }

    private func requestSent(_ result: Result<Void, KXError>) {
        guard stage == .sending, let connection else { return }
        if case .failure(let error) = result { fail(error); return }
        enter(.receiving)
        armStage(timeouts.reply, "KX-REP")
        connection.session.receive { [weak self] result in self?.replyReceived(result) }
    }

    // MARK: - C9, C10

    private func replyReceived(_ result: Result<[UInt8], KXError>) {
        guard stage == .receiving, let connection, let request = requestOffer else { return }
        disarmStage()
        let reply: KXOffer
        do {
            let bytes = try result.get()
            // A refusing server sends a KRB-ERROR in place of KX-REP (`Refusal`).
            if bytes.first == KRBError.applicationTag {
                let refusal = try? KRBError(derEncoded: bytes)
                fail(refusal.map { Refusal.received($0, from: connection.session.peerHost) }
                     ?? KXError(.transport, "an undecodable KRB-ERROR in place of KX-REP"))
                return
            }
            reply = try OfferChecks.decode(bytes, expecting: .reply).offer
            try OfferChecks.checkReply(reply, request: request, now: ports.clock.now)
            keyInfo = try KeySchedule.merge(request: request, reply: reply)
            layout = try KeySchedule.layout(request: request, reply: reply)
        } catch let error as KXError {
            fail(error)
            return
        } catch {
            fail(KXError(.transport, "\(error)"))
            return
        }
        guard let keyInfo, let layout else { return }
        enter(.deriving, "kvno \(reply.kvno), shared etypes \(layout.etypes), \(layout.exportLength) bytes")
        connection.session.exportKey(label: KeySchedule.exporterLabel, context: keyInfo.derEncoded, length: layout.exportLength) {
            [weak self] result in self?.keyExported(result)
        }
    }

    // MARK: - C11

    private func keyExported(_ result: Result<KeyMaterial, KXError>) {
        guard stage == .deriving, let keyInfo, let layout else {
            if case .success(let late) = result { late.zeroize() }
            return
        }
        switch result {
        case .failure(let error):
            fail(error)
        case .success(let material):
            hold.material = material
            enter(.storing, "krbtgt/\(serviceRealm ?? "?")@\(local.realm) kvno \(keyInfo.kvno)")
            armStage(timeouts.keyStore, "key store")
            let write = CrossoverKeyWrite(principal: keyInfo.kxName, kvno: keyInfo.kvno, material: material, layout: layout,
                                          from: keyInfo.from, till: keyInfo.till)
            ports.keyStore.store(write) { [weak self] result in self?.keysStored(result) }
        }
    }

    private func keysStored(_ result: Result<KeyWriteOutcome, KXError>) {
        guard stage == .storing, let keyInfo, let layout, let realm = serviceRealm else { return }
        disarmStage()
        switch result {
        case .failure(let error):
            fail(error)
        case .success(let outcome):
            let success = Success(clientRealm: local.realm, serviceRealm: realm, kvno: keyInfo.kvno, etypes: layout.etypes,
                                  from: keyInfo.from, till: keyInfo.till, peerHost: connection?.session.peerHost ?? "", stored: outcome)
            enter(.finished, "kvno \(keyInfo.kvno) stored (\(outcome))")
            finish(.success(success))
        }
    }

    // MARK: - Unwinding

    public func cancel() {
        fail(KXError(.cancelled, "cancelled"))
    }

    /// Releases exactly what the exchange holds and reports the error once.
    private func fail(_ error: KXError) {
        guard completion != nil else { return }
        trail.fail(into: .failed, error)
        finish(.failure(error))
    }

    private func finish(_ result: Result<Success, KXError>) {
        hold.releaseAll()
        connection?.close()
        connection = nil
        guard let completion else { return }
        self.completion = nil
        completion(result)
    }

    private func enter(_ next: Stage, _ detail: String = "") {
        trail.enter(next, detail)
    }

    private func armStage(_ seconds: Double, _ what: String, onTimeout: (() -> Void)? = nil) {
        hold.armStage(seconds) { [weak self] in
            if let onTimeout { onTimeout() } else { self?.fail(KXError(.timeout, "\(what) not done within \(Int(seconds)) s")) }
        }
    }

    private func disarmStage() {
        hold.disarmStage()
    }
}

/// A RandomNumberGenerator over a RandomSource (for SRV weighting).
struct SeededGenerator: RandomNumberGenerator {
    let source: RandomSource
    init(_ source: RandomSource) { self.source = source }
    mutating func next() -> UInt64 {
        source.bytes(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
