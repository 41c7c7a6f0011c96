/// One client-side exchange (spec §8.2, C0–C11) as one record. Each stage is
/// a state that carries exactly the data it owns; each callback is named
/// after the event that completes a stage, checks what arrived, and starts
/// the next operation through a port. An event that does not fit the current
/// state fails the exchange loudly; `RecordRun` unwinds what is held and
/// reports once.
///
/// The stage table (entry action → completion; bound; error exit):
///
/// | stage | entry action | completion | bound | error exit |
/// |---|---|---|---|---|
/// | C0 local key check | the peer policy (outgoing); read krbtgt/SERVICE@LOCAL (or take the trigger's read) | `localKeyRead` | overall | POLICY, a foreign principal, a KDB failure |
/// | C2 DNSSEC KDC | SRV `_kerberos-tls._tcp` | `kdcsResolved` | overall | not Secure, none |
/// | C3 AAAA/A | addresses of the next SRV target | `addressesResolved` | overall | Bogus; empty moves on |
/// | C4 connecting | TCP to the next address | `connected` | `connect` (then next address) | every address of every target failed |
/// | C5 STARTTLS | `80 00 00 01` | `startTLSAccepted` | `startTLS` | refused (a KRB-ERROR is reported as the peer's refusal) |
/// | C6 handshake | TLS through the pool, DANE | `handshakeDone` | `handshake` | TLS failure or alert |
/// | C7 realms check | both certificates' krbtgt names; then the zone budget (`admitPeer`) | `realmsChecked` | `handshake` | REALMSCHECK, RATE_LIMITED |
/// | C8 KX-REQ | build and send the offer | `requestSent` | overall | send failed |
/// | C9 KX-REP | receive, check, merge | `replyReceived` | `reply` | the peer's KRB-ERROR, a bad offer |
/// | C10 key deriving | the TLS exporter | `keyExported` | overall | export failed |
/// | C11 key storing | the key store (all or nothing) | `keysStored` | `keyStore` | KEY_STORING |
public final class ClientCrossover {
    public enum Stage: String, Sendable, CaseIterable {
        case initialised = "C0 initialised"
        case localKeyCheck = "C0 local key check"
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

    public typealias Success = CrossoverSuccess

    public struct Ports {
        public let lookups: KXOverLookups
        public let dialer: PeerDialer
        public let keyStore: KeyStore
        public let clock: Clock
        public let random: RandomSource
        public let timers: Timers
        /// Asked once the peer realm is authenticated (C7), before anything
        /// is sent or written: nil admits; an error (a zone's cap) ends the
        /// exchange. Charged only for authenticated realms, so nobody can
        /// use up another zone's share with names they do not own.
        public let admitPeer: (String) -> KXError?

        public init(lookups: KXOverLookups, dialer: PeerDialer, keyStore: KeyStore, clock: Clock, random: RandomSource, timers: Timers,
                    admitPeer: @escaping (String) -> KXError? = { _ in nil }) {
            self.lookups = lookups
            self.dialer = dialer
            self.keyStore = keyStore
            self.clock = clock
            self.random = random
            self.timers = timers
            self.admitPeer = admitPeer
        }
    }

    /// Where the walk over the service realm's KDCs stands (C3, C4).
    private struct Path {
        var targets: ArraySlice<DNSRecords.SRV>
        var current: DNSRecords.SRV
        var lastError: KXError?
    }

    /// An open connection to one of the service realm's KDCs (C5 on).
    private struct Link {
        let target: DNSRecords.SRV
        let connection: PeerConnection
    }

    /// What the two offers agreed (C10, C11).
    private struct Agreement {
        let keyInfo: KeyInfo
        let layout: KeySchedule.Layout
    }

    private enum State {
        case idle
        case checkingLocalKey
        case findingKDCs
        case resolving(Path)
        case connecting(Path, addresses: ArraySlice<String>, attempt: Int)
        case startingTLS(Link)
        case handshaking(Link)
        case checkingRealms(Link)
        case sending(Link, request: KXOffer)
        case receiving(Link, request: KXOffer)
        case deriving(Link, Agreement)
        case storing(Link, Agreement)
        case ended
    }

    public let id: String
    public let local: LocalRealmPolicy
    public let serviceRealm: String
    public var stage: Stage { run.stage }
    /// Every stage entered, in order.
    public var transcript: [Stage] { run.trail.history }
    /// The stage the exchange failed in, once it has.
    public var failedStage: Stage? { run.failedIn }
    public var isDone: Bool { run.isDone }

    private let ports: Ports
    private let timeouts: CrossoverTimeouts
    private let run: RecordRun<Stage, Success>
    private var state = State.idle
    /// The kvnos the local KDB holds for the pair (read in C0), for the kvno choice.
    private var existingKvnos: [UInt32] = []
    /// What the trigger read from the KDB moments ago; C0 then reads nothing.
    private let knownEntry: KeyStoreEntry?
    /// Connects tried so far (at most `PeerAddressPolicy.maximumAddresses`).
    private var attempts = 0
    /// Where this exchange may connect.
    private let addressPolicy: PeerAddressPolicy

    public init(id: String, local: LocalRealmPolicy, serviceRealm: String, ports: Ports, timeouts: CrossoverTimeouts = .client,
                knownEntry: KeyStoreEntry? = nil, addressPolicy: PeerAddressPolicy = PeerAddressPolicy(),
                log: @escaping (CrossoverEvent) -> Void = { _ in }, completion: @escaping (Result<Success, KXError>) -> Void) {
        self.id = id
        self.local = local
        self.serviceRealm = serviceRealm
        self.ports = ports
        self.timeouts = timeouts
        self.knownEntry = knownEntry
        self.addressPolicy = addressPolicy
        run = RecordRun(exchange: id, start: .initialised, failed: .failed, timers: ports.timers, log: log, completion: completion)
    }

    // MARK: - C0

    public func start() {
        guard case .idle = state else { return }
        run.hold.startDeadline(timeouts.overall) { [weak self] in
            self?.fail(KXError(.timeout, "exchange not done within \(Int(self?.timeouts.overall ?? 0)) s"))
        }
        guard RealmName.isValid(serviceRealm), serviceRealm != local.realm else {
            return fail(KXError(.offerRealm, "cannot cross from \(local.realm) to \(serviceRealm)"))
        }
        if let refusal = local.peers.refusal(peer: serviceRealm, local: local.realm, direction: .outgoing) {
            return fail(refusal)
        }
        // Before any network work: refuse at once if a manually managed key is in the way.
        state = .checkingLocalKey
        run.enter(.localKeyCheck)
        if let knownEntry { return localKeyRead(.success(knownEntry)) }
        ports.keyStore.inspect(.crossover(client: local.realm, service: serviceRealm)) { [weak self] result in
            self?.localKeyRead(result)
        }
    }

    private func localKeyRead(_ result: Result<KeyStoreEntry, KXError>) {
        guard case .checkingLocalKey = state else { return stray("the local key's state") }
        switch result {
        case .failure(let error):
            fail(error)
        case .success(.foreign(let policy)):
            fail(KXError(.keyStoring, "\(Principal.crossover(client: local.realm, service: serviceRealm)) exists with \(policy.map { "policy \($0)" } ?? "no policy") and is not managed by kxover"))
        case .success(.managed(let set)):
            existingKvnos = set.versions.map(\.kvno)
            lookUpKDCs()
        case .success(.absent):
            lookUpKDCs()
        }
    }

    // MARK: - C2

    private func lookUpKDCs() {
        state = .findingKDCs
        run.enter(.kdcLookup, serviceRealm)
        run.hold.inFlight = ports.lookups.kdcs(ofRealm: serviceRealm, random: SeededGenerator(ports.random)) { [weak self] result in
            self?.kdcsResolved(result)
        }
    }

    private func kdcsResolved(_ result: Result<[DNSRecords.SRV], KXError>) {
        guard case .findingKDCs = state else { return stray("the KDCs' SRV answer") }
        switch result {
        case .failure(let error): fail(error)
        // Only the first few targets are ever looked up (and connected to).
        case .success(let records): nextTarget(records.prefix(PeerAddressPolicy.maximumTargets), lastError: nil)
        }
    }

    // MARK: - C3

    private func nextTarget(_ remaining: ArraySlice<DNSRecords.SRV>, lastError: KXError?) {
        var targets = remaining
        guard let next = targets.popFirst() else {
            return fail(lastError.map { KXError(.connect, "no KXOVER server of \(serviceRealm) reachable; last: \($0.detail)") }
                        ?? KXError(.connect, "no KXOVER server of \(serviceRealm) reachable"))
        }
        guard attempts < PeerAddressPolicy.maximumAddresses else { return addressesExhausted(lastError) }
        state = .resolving(Path(targets: targets, current: next, lastError: lastError))
        run.enter(.addressLookup, next.description)
        run.hold.inFlight = ports.lookups.addresses(ofHost: next.target) { [weak self] result in self?.addressesResolved(result) }
    }

    private func addressesResolved(_ result: Result<[String], KXError>) {
        guard case .resolving(let path) = state else { return stray("the KDC's addresses") }
        switch result {
        case .failure(let error):
            // A bogus address answer is fatal (DNS_ERROR); an empty one just moves on.
            if error.code == .dnsError { return fail(error) }
            nextTarget(path.targets, lastError: error)
        case .success(let list):
            nextAddress(path, list[...])
        }
    }

    /// The most addresses an exchange tries: it ends here, whatever targets are left.
    private func addressesExhausted(_ lastError: KXError?) {
        fail(KXError(.connect, "no KXOVER server of \(serviceRealm) reachable after \(attempts) addresses (the most tried per exchange)"
                     + (lastError.map { "; last: \($0.detail)" } ?? "")))
    }

    // MARK: - C4

    private func nextAddress(_ path: Path, _ remaining: ArraySlice<String>) {
        var addresses = remaining
        guard let address = addresses.popFirst() else { return nextTarget(path.targets, lastError: path.lastError) }
        let target = path.current
        // Never to a loopback, private, link-local, multicast, unspecified or
        // metadata address unless configured (a trigger needs no authentication).
        if let refusal = addressPolicy.refusal(address) {
            var path = path
            path.lastError = KXError(.connect, "refused to connect to \(target.target) [\(address)]:\(target.port): \(refusal)")
            return nextAddress(path, addresses)
        }
        guard attempts < PeerAddressPolicy.maximumAddresses else { return addressesExhausted(path.lastError) }
        attempts += 1
        let attempt = attempts
        state = .connecting(path, addresses: addresses, attempt: attempt)
        run.enter(.connecting, "\(target.target) [\(address)]:\(target.port)")
        run.arm(timeouts.connect) { [weak self] in
            guard let self, case .connecting(var path, let rest, attempt) = self.state else { return }
            self.run.hold.inFlight?.cancel()
            path.lastError = KXError(.connect, "connect to [\(address)]:\(target.port) timed out")
            self.nextAddress(path, rest)
        }
        run.hold.inFlight = ports.dialer.connect(host: target.target, address: address, port: target.port) { [weak self] result in
            self?.connected(result, attempt: attempt)
        }
    }

    private func connected(_ result: Result<PeerConnection, KXError>, attempt: Int) {
        guard case .connecting(var path, let rest, let current) = state, current == attempt else {
            // A connection whose attempt timed out (or an exchange that ended) is not ours any more.
            if case .success(let late) = result { late.close() }
            return
        }
        run.hold.disarmStage()
        switch result {
        case .failure(let error):
            path.lastError = error
            nextAddress(path, rest)
        case .success(let connection):
            let link = Link(target: path.current, connection: connection)
            state = .startingTLS(link)
            run.enter(.startTLS)
            arm(timeouts.startTLS, "STARTTLS reply")
            connection.startTLS { [weak self] result in self?.startTLSAccepted(result) }
        }
    }

    // MARK: - C5, C6

    private func startTLSAccepted(_ result: Result<Void, KXError>) {
        guard case .startingTLS(let link) = state else { return stray("the STARTTLS reply") }
        run.hold.disarmStage()
        if case .failure(let error) = result { return fail(error) }
        state = .handshaking(link)
        run.enter(.handshake, "SNI \(link.target.target)")
        arm(timeouts.handshake, "TLS handshake")
        link.connection.handshake(serverHost: link.target.target, localHost: local.kdcHost) { [weak self] result in
            self?.handshakeDone(result)
        }
    }

    private func handshakeDone(_ result: Result<Void, KXError>) {
        guard case .handshaking(let link) = state else { return stray("the TLS handshake's end") }
        run.hold.disarmStage()
        if case .failure(let error) = result { return fail(error) }
        state = .checkingRealms(link)
        run.enter(.realmsCheck, "peer \(link.connection.session.peerHost)")
        arm(timeouts.handshake, "realm checks")
        link.connection.session.checkRealms(peerRealm: serviceRealm, ownRealm: local.realm) { [weak self] result in
            self?.realmsChecked(result)
        }
    }

    // MARK: - C7, C8

    private func realmsChecked(_ result: Result<Void, KXError>) {
        guard case .checkingRealms(let link) = state else { return stray("the realm checks") }
        run.hold.disarmStage()
        if case .failure(let error) = result { return fail(error) }
        if let refusal = ports.admitPeer(serviceRealm) { return fail(refusal) }
        let now = ports.clock.now
        guard let kvno = KvnoPolicy.next(now: now, existing: existingKvnos) else {
            return fail(KXError(.rateLimited, "all ten kvno serials of today are used for \(serviceRealm)"))
        }
        let offer = OfferBuilder.request(clientRealm: local.realm, serviceRealm: serviceRealm, now: now,
                                         salt: ports.random.bytes(Etype.maximumSeedLength), kvno: kvno,
                                         etypes: local.etypes, lifetime: local.keyLifetime)
        state = .sending(link, request: offer)
        run.enter(.sending, "kvno \(kvno), etypes \(offer.etypes)")
        link.connection.session.send(KXMessage(kind: .request, offer: offer).derEncoded) { [weak self] result in
            self?.requestSent(result)
        }
    }

    private func requestSent(_ result: Result<Void, KXError>) {
        guard case .sending(let link, let request) = state else { return stray("the KX-REQ send") }
        if case .failure(let error) = result { return fail(error) }
        state = .receiving(link, request: request)
        run.enter(.receiving)
        arm(timeouts.reply, "KX-REP")
        link.connection.session.receive { [weak self] result in self?.replyReceived(result) }
    }

    // MARK: - C9, C10

    private func replyReceived(_ result: Result<[UInt8], KXError>) {
        guard case .receiving(let link, let request) = state else { return stray("a KX-REP") }
        run.hold.disarmStage()
        let reply: KXOffer, agreement: Agreement
        do {
            let bytes = try result.get()
            // A refusing server sends a KRB-ERROR in place of KX-REP (`Refusal`).
            if bytes.first == KRBError.applicationTag {
                let refusal = try? KRBError(derEncoded: bytes)
                return fail(refusal.map { Refusal.received($0, from: link.connection.session.peerHost) }
                            ?? KXError(.transport, "an undecodable KRB-ERROR in place of KX-REP"))
            }
            reply = try OfferChecks.decode(bytes, expecting: .reply).offer
            try OfferChecks.checkReply(reply, request: request, now: ports.clock.now)
            agreement = Agreement(keyInfo: try KeySchedule.merge(request: request, reply: reply),
                                  layout: try KeySchedule.layout(request: request, reply: reply))
        } catch let error as KXError {
            return fail(error)
        } catch {
            return fail(KXError(.transport, "\(error)"))
        }
        state = .deriving(link, agreement)
        run.enter(.deriving, "kvno \(reply.kvno), shared etypes \(agreement.layout.etypes), \(agreement.layout.exportLength) bytes")
        link.connection.session.exportKey(label: KeySchedule.exporterLabel, context: agreement.keyInfo.derEncoded,
                                          length: agreement.layout.exportLength) { [weak self] result in self?.keyExported(result) }
    }

    // MARK: - C11

    private func keyExported(_ result: Result<KeyMaterial, KXError>) {
        guard case .deriving(let link, let agreement) = state else {
            if case .success(let late) = result { late.zeroize() }
            return stray("exported key bytes")
        }
        switch result {
        case .failure(let error):
            fail(error)
        case .success(let material):
            run.hold.material = material
            state = .storing(link, agreement)
            run.enter(.storing, "krbtgt/\(serviceRealm)@\(local.realm) kvno \(agreement.keyInfo.kvno)")
            arm(timeouts.keyStore, "key store")
            ports.keyStore.store(CrossoverKeyWrite(agreement.keyInfo, agreement.layout, material)) { [weak self] result in
                self?.keysStored(result)
            }
        }
    }

    private func keysStored(_ result: Result<KeyWriteOutcome, KXError>) {
        guard case .storing(let link, let agreement) = state else { return stray("the key store's answer") }
        run.hold.disarmStage()
        switch result {
        case .failure(let error):
            fail(error)
        case .success(let outcome):
            let keyInfo = agreement.keyInfo
            let success = Success(clientRealm: local.realm, serviceRealm: serviceRealm, kvno: keyInfo.kvno, etypes: agreement.layout.etypes,
                                  from: keyInfo.from, till: keyInfo.till, peerHost: link.connection.session.peerHost, stored: outcome)
            state = .ended
            run.succeed(.finished, "kvno \(keyInfo.kvno) stored (\(outcome))", success) { link.connection.close() }
        }
    }

    // MARK: - Unwinding

    public func cancel() {
        fail(KXError(.cancelled, "cancelled"))
    }

    /// An event that does not belong to the current stage: a port broke its
    /// promise. Failing now beats waiting for the overall deadline.
    private func stray(_ event: String) {
        guard !run.isDone else { return }   // late news for an exchange that has ended
        fail(KXError(.errorEvent, "\(event) arrived in stage \(stage.rawValue)"))
    }

    /// Releases exactly what the exchange holds and reports the error once.
    private func fail(_ error: KXError) {
        guard run.markFailed(error) else { return }
        let connection = self.connection
        state = .ended
        run.finish(.failure(error)) { connection?.close() }
    }

    /// The connection the current state holds, if any.
    private var connection: PeerConnection? {
        switch state {
        case .startingTLS(let link), .handshaking(let link), .checkingRealms(let link), .sending(let link, _),
             .receiving(let link, _), .deriving(let link, _), .storing(let link, _):
            return link.connection
        case .idle, .checkingLocalKey, .findingKDCs, .resolving, .connecting, .ended:
            return nil
        }
    }

    private func arm(_ seconds: Double, _ what: String) {
        run.arm(seconds) { [weak self] in self?.fail(KXError(.timeout, "\(what) not done within \(Int(seconds)) s")) }
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
