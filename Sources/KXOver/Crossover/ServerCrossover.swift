/// One server-side exchange (spec §8.3, S0–S8), started by a KX-REQ that
/// arrived on a TLS session. The server stores its key BEFORE it sends KX-REP,
/// so a client holding KX-REP can count on the service KDC having the key.
/// A failure after the KX-REQ arrived is told to the client in place of
/// KX-REP: a KRB-ERROR with the code and a public reason (`Refusal`), sent
/// before the completion runs, so the caller may close the connection then.
/// Nothing is told when the exchange was cancelled or the session broke.
///
/// The stage table (entry action → completion; bound; error exit):
///
/// | stage | entry action | completion | bound | error exit |
/// |---|---|---|---|---|
/// | S1 KX-REQ | decode and check the offer; the peer policy (incoming) | (synchronous) | overall | TRANSPORT, OFFER_*, a realm not served, POLICY |
/// | S2 realms check | both certificates' krbtgt names | `realmsChecked` | `handshake` | REALMSCHECK |
/// | S3 DNSSEC client KDC | SRV `_kerberos-tls._tcp` of the client realm | `clientKDCsResolved` | overall | not Secure |
/// | S4 host check | the certified host among those targets; then the zone budget (`admitPeer`) | (synchronous) | — | HOSTCHECK, RATE_LIMITED |
/// | S5 key state | read krbtgt/SERVICE@CLIENT; pace, kvno, reply offer | `keyStateRead` | `keyStore` | foreign principal, RATE_LIMITED, no shared etype |
/// | S6 key deriving | the TLS exporter | `keyExported` | overall | export failed |
/// | S7 key storing | the key store (all or nothing) | `keysStored` | `keyStore` | KEY_STORING |
/// | S8 KX-REP | send the reply | `replySent` | overall | the session broke |
public final class ServerCrossover {
    public enum Stage: String, Sendable, CaseIterable {
        case initialised = "S0 initialised"
        case received = "S1 KX-REQ"
        case realmsCheck = "S2 realms check"
        case kdcLookup = "S3 DNSSEC client KDC"
        case hostCheck = "S4 host check"
        case keyState = "S5 key state"
        case deriving = "S6 key deriving"
        case storing = "S7 key storing"
        case sending = "S8 KX-REP"
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
        /// Asked once the client realm is authenticated (S4), before the KDB
        /// is read: nil admits; an error (a zone's cap) is told to the peer.
        public let admitPeer: (String) -> KXError?

        public init(lookups: KXOverLookups, keyStores: [String: KeyStore], clock: Clock, random: RandomSource, timers: Timers,
                    admitPeer: @escaping (String) -> KXError? = { _ in nil }) {
            self.lookups = lookups
            self.keyStores = keyStores
            self.clock = clock
            self.random = random
            self.timers = timers
            self.admitPeer = admitPeer
        }
    }

    /// A KX-REQ that passed S1, and the local realm it asks for.
    private struct Request {
        let offer: KXOffer
        let realms: OfferChecks.Realms
        let local: LocalRealmPolicy
        let keyStore: KeyStore
    }

    /// The reply offer and what both offers agreed (S6 on).
    private struct Agreement {
        let reply: KXOffer
        let keyInfo: KeyInfo
        let layout: KeySchedule.Layout
    }

    private enum State {
        case idle
        case checkingRealms(Request)
        case findingClientKDCs(Request)
        case readingKeyState(Request)
        case deriving(Request, Agreement)
        case storing(Request, Agreement)
        case sending(Request, Agreement, KeyWriteOutcome)
        /// The client is being told why; the failure is reported once that is sent.
        case refusing(KXError)
        case ended
    }

    public let id: String
    public var stage: Stage { run.stage }
    /// Every stage entered, in order.
    public var transcript: [Stage] { run.trail.history }
    /// The stage the exchange failed in, once it has.
    public var failedStage: Stage? { run.failedIn }
    public var isDone: Bool { run.isDone }
    public private(set) var realms: OfferChecks.Realms?
    /// What the client was told (code and public reason), once a refusal was sent.
    public private(set) var told: KXError?
    /// The client KDC's validated host name.
    public var peerHost: String { session.peerHost }

    private let frame: [UInt8]
    private let session: KXSession
    private let locals: [String: LocalRealmPolicy]
    private let ports: Ports
    private let timeouts: CrossoverTimeouts
    private let run: RecordRun<Stage, Success>
    private var state = State.idle

    public init(id: String, frame: [UInt8], session: KXSession, locals: [LocalRealmPolicy], ports: Ports,
                timeouts: CrossoverTimeouts = .server, log: @escaping (CrossoverEvent) -> Void = { _ in },
                completion: @escaping (Result<Success, KXError>) -> Void) {
        self.id = id
        self.frame = frame
        self.session = session
        self.locals = Dictionary(locals.map { ($0.realm, $0) }, uniquingKeysWith: { first, _ in first })
        self.ports = ports
        self.timeouts = timeouts
        run = RecordRun(exchange: id, start: .initialised, failed: .failed, timers: ports.timers, log: log, completion: completion)
    }

    // MARK: - S1

    public func start() {
        guard case .idle = state else { return }
        run.hold.startDeadline(timeouts.overall) { [weak self] in
            self?.fail(KXError(.timeout, "exchange not done within \(Int(self?.timeouts.overall ?? 0)) s"))
        }
        run.enter(.received, "\(frame.count) bytes from \(session.peerHost)")
        let offer: KXOffer, realms: OfferChecks.Realms
        do {
            offer = try OfferChecks.decode(frame, expecting: .request).offer
            realms = try OfferChecks.checkRequest(offer, now: ports.clock.now)
        } catch let error as KXError {
            return fail(error)
        } catch {
            return fail(KXError(.transport, "\(error)"))
        }
        guard let local = locals[realms.service], let keyStore = ports.keyStores[realms.service] else {
            return fail(KXError(.realmsCheck, "we do not serve \(realms.service) (KX-REQ from \(realms.client))"),
                        tell: "\(realms.service) is not served here")
        }
        // The administrator's say, on the claimed name: a refusal costs nothing
        // and writes nothing; an allowed name is still authenticated below.
        self.realms = realms
        if let refusal = local.peers.refusal(peer: realms.client, local: realms.service, direction: .incoming) {
            return fail(refusal, tell: "\(realms.service) does not accept crossovers from \(realms.client)")
        }
        let request = Request(offer: offer, realms: realms, local: local, keyStore: keyStore)
        state = .checkingRealms(request)
        run.enter(.realmsCheck, "\(realms.client) → \(realms.service)")
        arm(timeouts.handshake, "realm checks")
        session.checkRealms(peerRealm: realms.client, ownRealm: realms.service) { [weak self] result in self?.realmsChecked(result) }
    }

    // MARK: - S2, S3

    private func realmsChecked(_ result: Result<Void, KXError>) {
        guard case .checkingRealms(let request) = state else { return stray("the realm checks") }
        run.hold.disarmStage()
        let realms = request.realms
        if case .failure(let error) = result {
            return fail(error, tell: "the certificates do not name krbtgt/\(realms.client)@\(realms.client) and krbtgt/\(realms.service)@\(realms.service)")
        }
        state = .findingClientKDCs(request)
        run.enter(.kdcLookup, realms.client)
        run.hold.inFlight = ports.lookups.kdcs(ofRealm: realms.client, random: SeededGenerator(ports.random)) { [weak self] result in
            self?.clientKDCsResolved(result)
        }
    }

    // MARK: - S4, S5

    private func clientKDCsResolved(_ result: Result<[DNSRecords.SRV], KXError>) {
        guard case .findingClientKDCs(let request) = state else { return stray("the client KDCs' SRV answer") }
        let realms = request.realms
        switch result {
        case .failure(let error):
            fail(error, tell: error.code == .dnssecKDC ? "no DNSSEC-secure _kerberos-tls._tcp SRV for \(realms.client)" : nil)
        case .success(let targets):
            run.enter(.hostCheck, "peer \(session.peerHost)")
            // The certified client host must be one of the client realm's KDCs; ports do not matter.
            let peer = session.peerHost.lowercased().trimmingTrailingDot
            guard targets.contains(where: { $0.target == peer }) else {
                return fail(KXError(.hostCheck, "\(session.peerHost) is not among the KDCs of \(realms.client) (\(targets.map(\.target).joined(separator: ", ")))"),
                            tell: "\(peer) is not a _kerberos-tls._tcp target of \(realms.client)")
            }
            if let refusal = ports.admitPeer(realms.client) {
                return fail(refusal, tell: "too many exchanges with realms below \(ZoneBudget.parentZone(of: realms.client)); try again later")
            }
            state = .readingKeyState(request)
            run.enter(.keyState)
            arm(timeouts.keyStore, "key store")
            request.keyStore.inspect(.crossover(client: realms.client, service: realms.service)) { [weak self] result in
                self?.keyStateRead(result)
            }
        }
    }

    private func keyStateRead(_ result: Result<KeyStoreEntry, KXError>) {
        guard case .readingKeyState(let request) = state else { return stray("the key state") }
        run.hold.disarmStage()
        let realms = request.realms
        var existing: [ManagedKeySet.Version] = []
        switch result {
        case .failure(let error):
            return fail(error)
        case .success(.foreign(let policy)):
            return fail(KXError(.keyStoring, "krbtgt/\(realms.service)@\(realms.client) exists with \(policy.map { "policy \($0)" } ?? "no policy") and is not managed by kxover"))
        case .success(.managed(let set)):
            existing = set.versions
        case .success(.absent):
            break
        }
        let now = ports.clock.now
        if let (refusal, retry) = Self.rateLimitWait(existing, now: now) {
            return fail(refusal, tell: "a key for this realm pair was made recently; retry in \(retry) s")
        }
        guard let kvno = KvnoPolicy.reply(now: now, requested: request.offer.kvno, existing: existing.map(\.kvno)) else {
            return fail(KXError(.rateLimited, "all ten kvno serials of today are used for \(realms.client)"),
                        tell: "all kvno serials of today are used for this realm pair")
        }
        let reply = OfferBuilder.reply(to: request.offer, serviceRealm: realms.service, now: now,
                                       salt: ports.random.bytes(Etype.maximumSeedLength), kvno: kvno,
                                       etypes: request.local.etypes, lifetime: request.local.keyLifetime)
        let agreement: Agreement
        do {
            agreement = Agreement(reply: reply, keyInfo: try KeySchedule.merge(request: request.offer, reply: reply),
                                  layout: try KeySchedule.layout(request: request.offer, reply: reply))
        } catch let error as KXError {
            return fail(error)
        } catch {
            return fail(KXError(.offer, "\(error)"))
        }
        state = .deriving(request, agreement)
        run.enter(.deriving, "kvno \(kvno), shared etypes \(agreement.layout.etypes), \(agreement.layout.exportLength) bytes")
        session.exportKey(label: KeySchedule.exporterLabel, context: agreement.keyInfo.derEncoded, length: agreement.layout.exportLength) {
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

    // MARK: - S6, S7

    private func keyExported(_ result: Result<KeyMaterial, KXError>) {
        guard case .deriving(let request, let agreement) = state else {
            if case .success(let late) = result { late.zeroize() }
            return stray("exported key bytes")
        }
        switch result {
        case .failure(let error):
            fail(error)
        case .success(let material):
            run.hold.material = material
            state = .storing(request, agreement)
            run.enter(.storing, "krbtgt/\(request.realms.service)@\(request.realms.client) kvno \(agreement.keyInfo.kvno)")
            arm(timeouts.keyStore, "key store")
            request.keyStore.store(CrossoverKeyWrite(agreement.keyInfo, agreement.layout, material)) { [weak self] result in
                self?.keysStored(result)
            }
        }
    }

    // MARK: - S8

    private func keysStored(_ result: Result<KeyWriteOutcome, KXError>) {
        guard case .storing(let request, let agreement) = state else { return stray("the key store's answer") }
        run.hold.disarmStage()
        switch result {
        case .failure(let error):
            fail(error)
        case .success(let outcome):
            run.hold.material?.zeroize()
            run.hold.material = nil
            state = .sending(request, agreement, outcome)
            run.enter(.sending, "stored (\(outcome))")
            session.send(KXMessage(kind: .reply, offer: agreement.reply).derEncoded) { [weak self] result in self?.replySent(result) }
        }
    }

    private func replySent(_ result: Result<Void, KXError>) {
        guard case .sending(let request, let agreement, let outcome) = state else { return stray("the KX-REP send") }
        if case .failure(let error) = result { return fail(error, broken: true) }
        let keyInfo = agreement.keyInfo
        state = .ended
        run.succeed(.finished, "kvno \(keyInfo.kvno)", Success(
            clientRealm: request.realms.client, serviceRealm: request.realms.service, kvno: keyInfo.kvno, etypes: agreement.layout.etypes,
            from: keyInfo.from, till: keyInfo.till, peerHost: session.peerHost, stored: outcome))
    }

    // MARK: - Unwinding

    public func cancel() {
        fail(KXError(.cancelled, "cancelled"))
    }

    /// An event that does not belong to the current stage: a port broke its
    /// promise. Failing now beats waiting for the overall deadline.
    private func stray(_ event: String) {
        if case .refusing = state { return }   // the exchange has failed; only the refusal's send matters now
        guard !run.isDone else { return }
        fail(KXError(.errorEvent, "\(event) arrived in stage \(stage.rawValue)"))
    }

    /// Reports `error` once. After the KX-REQ arrived, the client is first
    /// told the code and `tell` (else the code's `Refusal.publicReason`),
    /// bounded by the reply timeout; a second failure meanwhile (cancel,
    /// that bound) ends the wait. `broken`: the session cannot carry it.
    private func fail(_ error: KXError, tell reason: String? = nil, broken: Bool = false) {
        if case .refusing(let first) = state { return end(first) }
        let telling = !broken && stage != .initialised && error.code != .cancelled && error.code != .disconnected
        guard run.markFailed(error) else { return }
        guard telling else { return end(error) }
        let told = KXError(error.code, reason ?? Refusal.publicReason(error.code))
        let realm = realms?.service ?? locals.keys.sorted().first ?? ""
        self.told = told
        state = .refusing(error)
        run.hold.releaseAll()
        run.arm(timeouts.reply) { [weak self] in self?.end(error) }
        session.send(Refusal.krbError(told.code, told.detail, realm: realm, now: ports.clock.now).derEncoded) { [weak self] _ in
            self?.end(error)
        }
    }

    private func end(_ error: KXError) {
        state = .ended
        run.finish(.failure(error))
    }

    private func arm(_ seconds: Double, _ what: String) {
        run.arm(seconds) { [weak self] in self?.fail(KXError(.timeout, "\(what) not done within \(Int(seconds)) s")) }
    }
}

extension String {
    var trimmingTrailingDot: String { hasSuffix(".") ? String(dropLast()) : self }
}
