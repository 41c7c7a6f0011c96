/// One server-side exchange (spec §8.3, S0–S7), started by a KX-REQ that
/// arrived on a TLS session. The server stores its key BEFORE it sends KX-REP,
/// so a client holding KX-REP can count on the service KDC having the key.
/// A failure after the KX-REQ arrived is told to the client in place of
/// KX-REP: a KRB-ERROR with the code and a public reason (`Refusal`), sent
/// before the completion runs, so the caller may close the connection then.
/// Nothing is told when the exchange was cancelled or the session broke.
public final class ServerCrossover {
    public enum Stage: String, Sendable, CaseIterable {
        case initialised = "S0 initialised"
        case received = "S1 KX-REQ"
        case realmsCheck = "S2 realms check"
        case kdcLookup = "S3 DNSSEC client KDC"
        case hostCheck = "S4 host check"
        case keyState = "S4 key state"
        case deriving = "S5 key deriving"
        case storing = "S6 key storing"
        case sending = "S7 KX-REP"
        case finished = "finished"
        case failed = "failed"
    }

    public typealias Success = CrossoverSuccess

    public struct Ports {
        public let lookups: KXOverLookups
        /// The key store of each local realm we serve, by realm name.
        public let keyStores: [String: KeyStore]
        public let clock: Clock
        public let random: RandomSource
        public let timers: Timers

        public init(lookups: KXOverLookups, keyStores: [String: KeyStore], clock: Clock, random: RandomSource, timers: Timers) {
            self.lookups = lookups
            self.keyStores = keyStores
            self.clock = clock
            self.random = random
            self.timers = timers
        }
    }

    public let id: String
    public var stage: Stage { trail.current }
    /// Every stage entered, in order.
    public var transcript: [Stage] { trail.history }
    public private(set) var realms: OfferChecks.Realms?
    /// What the client was told (code and public reason), once a refusal was sent.
    public private(set) var told: KXError?

    private let frame: [UInt8]
    private let session: KXSession
    private let locals: [String: LocalRealmPolicy]
    private let ports: Ports
    private let timeouts: CrossoverTimeouts
    private var trail: StageTrail<Stage>
    private var completion: ((Result<Success, KXError>) -> Void)?

    private var requestOffer: KXOffer?
    private var replyOffer: KXOffer?
    private var keyInfo: KeyInfo?
    private var layout: KeySchedule.Layout?
    private let hold: ExchangeHold
    /// The failure being reported while the refusal is on its way.
    private var failing: KXError?

    public init(id: String, frame: [UInt8], session: KXSession, locals: [LocalRealmPolicy], ports: Ports,
                timeouts: CrossoverTimeouts = .server, log: @escaping (CrossoverEvent) -> Void = { _ in },
                completion: @escaping (Result<Success, KXError>) -> Void) {
        self.id = id
        self.frame = frame
        self.session = session
        self.locals = Dictionary(locals.map { ($0.realm, $0) }, uniquingKeysWith: { first, _ in first })
        self.ports = ports
        self.timeouts = timeouts
        trail = StageTrail(exchange: id, start: .initialised, log: log)
        self.completion = completion
        hold = ExchangeHold(timers: ports.timers)
    }

    public var isDone: Bool { completion == nil }
    /// The client KDC's validated host name.
    public var peerHost: String { session.peerHost }

    // MARK: - S1

    public func start() {
        guard stage == .initialised else { return }
        hold.startDeadline(timeouts.overall) { [weak self] in
            self?.fail(KXError(.timeout, "exchange not done within \(Int(self?.timeouts.overall ?? 0)) s"))
        }
        enter(.received, "\(frame.count) bytes from \(session.peerHost)")
        let request: KXOffer
        let realms: OfferChecks.Realms
        do {
            request = try OfferChecks.decode(frame, expecting: .request).offer
            realms = try OfferChecks.checkRequest(request, now: ports.clock.now)
        } catch let error as KXError {
            fail(error)
            return
        } catch {
            fail(KXError(.transport, "\(error)"))
            return
        }
        guard locals[realms.service] != nil, ports.keyStores[realms.service] != nil else {
            fail(KXError(.realmsCheck, "we do not serve \(realms.service) (KX-REQ from \(realms.client))"),
                 tell: "\(realms.service) is not served here")
            return
        }
        requestOffer = request
        self.realms = realms
        enter(.realmsCheck, "\(realms.client) → \(realms.service)")
        armStage(timeouts.handshake, "realm checks")
        session.checkRealms(peerRealm: realms.client, ownRealm: realms.service) { [weak self] result in self?.realmsChecked(result) }
    }

    // MARK: - S2, S3

    private func realmsChecked(_ result: Result<Void, KXError>) {
        guard stage == .realmsCheck, let realms else { return }
        disarmStage()
        if case .failure(let error) = result {
            fail(error, tell: "the certificates do not name krbtgt/\(realms.client)@\(realms.client) and krbtgt/\(realms.service)@\(realms.service)")
            return
        }
        enter(.kdcLookup, realms.client)
        hold.inFlight = ports.lookups.kdcs(ofRealm: realms.client, random: SeededGenerator(ports.random)) { [weak self] result in
            self?.clientKDCsResolved(result)
        }
    }

    // MARK: - S4

    private func clientKDCsResolved(_ result: Result<[DNSRecords.SRV], KXError>) {
        guard stage == .kdcLookup, let realms else { return }
        switch result {
        case .failure(let error):
            fail(error, tell: error.code == .dnssecKDC ? "no DNSSEC-secure _kerberos-tls._tcp SRV for \(realms.client)" : nil)
        case .success(let targets):
            enter(.hostCheck, "peer \(session.peerHost)")
            // The certified client host must be one of the client realm's KDCs; ports do not matter.
            let peer = session.peerHost.lowercased().trimmingTrailingDot
            guard targets.contains(where: { $0.target == peer }) else {
                fail(KXError(.hostCheck, "\(session.peerHost) is not among the KDCs of \(realms.client) (\(targets.map(\.target).joined(separator: ", ")))"),
                     tell: "\(peer) is not a _kerberos-tls._tcp target of \(realms.client)")
                return
            }
            enter(.keyState)
            armStage(timeouts.keyStore, "key store")
            ports.keyStores[realms.service]!.inspect(.crossover(client: realms.client, service: realms.service)) { [weak self] result in
                self?.keyStateRead(result)
            }
        }
    }

    private func keyStateRead(_ result: Result<KeyStoreEntry, KXError>) {
        guard stage == .keyState, let realms, let request = requestOffer, let local = locals[realms.service] else { return }
        disarmStage()
        var existing: [ManagedKeySet.Version] = []
        switch result {
        case .failure(let error):
            fail(error)
            return
        case .success(.foreign(let policy)):
            fail(KXError(.keyStoring, "krbtgt/\(realms.service)@\(realms.client) exists with \(policy.map { "policy \($0)" } ?? "no policy") and is not managed by kxover"))
            return
        case .success(.managed(let set)):
            existing = set.versions
        case .success(.absent):
            break
        }
        let now = ports.clock.now
        if let (refusal, retry) = Self.rateLimitWait(existing, now: now) {
            fail(refusal, tell: "a key for this realm pair was made recently; retry in \(retry) s")
            return
        }
        guard let kvno = KvnoPolicy.reply(now: now, requested: request.kvno, existing: existing.map(\.kvno)) else {
            fail(KXError(.rateLimited, "all ten kvno serials of today are used for \(realms.client)"),
                 tell: "all kvno serials of today are used for this realm pair")
            return
        }
        let reply = OfferBuilder.reply(to: request, serviceRealm: realms.service, now: now,
                                       salt: ports.random.bytes(Etype.maximumSeedLength), kvno: kvno,
                                       etypes: local.etypes, lifetime: local.keyLifetime)
        do {
            keyInfo = try KeySchedule.merge(request: request, reply: reply)
            layout = try KeySchedule.layout(request: request, reply: reply)
        } catch let error as KXError {
            fail(error)
            return
        } catch {
            fail(KXError(.offer, "\(error)"))
            return
        }
        replyOffer = reply
        guard let keyInfo, let layout else { return }
        enter(.deriving, "kvno \(kvno), shared etypes \(layout.etypes), \(layout.exportLength) bytes")
        session.exportKey(label: KeySchedule.exporterLabel, context: keyInfo.derEncoded, length: layout.exportLength) {
            [weak self] result in self?.keyExported(result)
        }
    }

    /// The serial-based backoff (spec §7.4): after a key with today's serial
    /// S was made, the next exchange waits `backoffSeconds(S)`.
    static func rateLimit(_ versions: [ManagedKeySet.Version], now: KerberosTime) -> KXError? {
        rateLimitWait(versions, now: now)?.refusal
    }

    /// The same refusal, and the seconds left (what the client is told).
    static func rateLimitWait(_ versions: [ManagedKeySet.Version], now: KerberosTime) -> (refusal: KXError, retry: Int64)? {
        guard let newest = versions.max(by: { ($0.from ?? now) < ($1.from ?? now) }),
              let serial = KvnoPolicy.components(of: newest.kvno)?.serial, let made = newest.from else { return nil }
        let wait = KvnoPolicy.backoffSeconds(afterSerial: serial)
        // A key made "in the future" (our clock stepped back) counts as made
        // just now: a negative elapsed time never lifts the limit.
        let elapsed = max(0, now.secondsSinceEpoch - made.secondsSinceEpoch)
        guard elapsed < wait else { return nil }
        return (KXError(.rateLimited, "kvno \(newest.kvno) was made \(elapsed) s ago; the next exchange may start after \(wait) s"),
                wait - elapsed)
    }

    // MARK: - S5, S6

    private func keyExported(_ result: Result<KeyMaterial, KXError>) {
        guard stage == .deriving, let realms, let keyInfo, let layout else {
            if case .success(let late) = result { late.zeroize() }
            return
        }
        switch result {
        case .failure(let error):
            fail(error)
        case .success(let material):
            hold.material = material
            enter(.storing, "krbtgt/\(realms.service)@\(realms.client) kvno \(keyInfo.kvno)")
            armStage(timeouts.keyStore, "key store")
            let write = CrossoverKeyWrite(principal: keyInfo.kxName, kvno: keyInfo.kvno, material: material, layout: layout,
                                          from: keyInfo.from, till: keyInfo.till)
            ports.keyStores[realms.service]!.store(write) { [weak self] result in self?.keysStored(result) }
        }
    }

    // MARK: - S7

    private func keysStored(_ result: Result<KeyWriteOutcome, KXError>) {
        guard stage == .storing, let reply = replyOffer else { return }
        disarmStage()
        switch result {
        case .failure(let error):
            fail(error)
        case .success(let outcome):
            hold.material?.zeroize()
            hold.material = nil
            enter(.sending, "stored (\(outcome))")
            session.send(KXMessage(kind: .reply, offer: reply).derEncoded) { [weak self] result in self?.replySent(result, outcome) }
        }
    }

    private func replySent(_ result: Result<Void, KXError>, _ outcome: KeyWriteOutcome) {
        guard stage == .sending, let realms, let keyInfo, let layout else { return }
        if case .failure(let error) = result { fail(error, broken: true); return }
        enter(.finished, "kvno \(keyInfo.kvno)")
        finish(.success(Success(clientRealm: realms.client, serviceRealm: realms.service, kvno: keyInfo.kvno, etypes: layout.etypes,
                                from: keyInfo.from, till: keyInfo.till, peerHost: session.peerHost, stored: outcome)))
    }

    // MARK: - Unwinding

    public func cancel() {
        fail(KXError(.cancelled, "cancelled"))
    }

    /// Reports `error` once. After the KX-REQ arrived, the client is first
    /// told the code and `tell` (else the code's `Refusal.publicReason`),
    /// bounded by the reply timeout; a second failure meanwhile (cancel,
    /// that bound) ends the wait. `broken`: the session cannot carry it.
    private func fail(_ error: KXError, tell reason: String? = nil, broken: Bool = false) {
        guard completion != nil else { return }
        if let failing { return finish(.failure(failing)) }
        let telling = !broken && stage != .initialised && error.code != .cancelled && error.code != .disconnected
        trail.fail(into: .failed, error)
        guard telling else { return finish(.failure(error)) }
        let told = KXError(error.code, reason ?? Refusal.publicReason(error.code))
        let realm = realms?.service ?? locals.keys.sorted().first ?? ""
        self.told = told
        failing = error
        hold.releaseAll()
        hold.armStage(timeouts.reply) { [weak self] in self?.fail(error) }
        session.send(Refusal.krbError(told.code, told.detail, realm: realm, now: ports.clock.now).derEncoded) { [weak self] _ in
            self?.finish(.failure(error))
        }
    }

    private func finish(_ result: Result<Success, KXError>) {
        hold.releaseAll()
        guard let completion else { return }
        self.completion = nil
        completion(result)
    }

    private func enter(_ next: Stage, _ detail: String = "") {
        trail.enter(next, detail)
    }

    private func armStage(_ seconds: Double, _ what: String) {
        hold.armStage(seconds) { [weak self] in self?.fail(KXError(.timeout, "\(what) not done within \(Int(seconds)) s")) }
    }

    private func disarmStage() {
        hold.disarmStage()
    }
}

extension String {
    var trimmingTrailingDot: String { hasSuffix(".") ? String(dropLast()) : self }
}
