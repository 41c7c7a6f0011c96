import Foundation
import KXDNS
import KXEventLoop
import KXOver
import Logging
import TLSPool

/// The crossover engine: runs client exchanges on demand (joining concurrent
/// requests for the same realm pair, backing off after failures), serves the
/// server side on connections the front end hands over after STARTTLS, and
/// watches relayed replies for the KRB-ERROR 7 that triggers a crossover.
/// Everything runs on one event loop.
public final class CrossoverEngine {
    public struct LocalRealm {
        public let policy: LocalRealmPolicy
        public let keyStore: KeyStore

        public init(policy: LocalRealmPolicy, keyStore: KeyStore) {
            self.policy = policy
            self.keyStore = keyStore
        }
    }

    public struct Counters: Sendable {
        public var clientSucceeded = 0
        public var clientFailed = 0
        public var joined = 0
        public var negativeCacheHits = 0
        public var serverSucceeded = 0
        public var serverFailed = 0
        public var triggers = 0
        /// New exchanges refused by the global limits (both sides).
        public var refusedByLimits = 0
        /// Requests forwarded at once because a cap on held requests was reached.
        public var holdsRefused = 0
        /// Crossovers the peer policy refused (both directions).
        public var refusedByPolicy = 0
        /// Reciprocal exchanges started after serving a peer.
        public var reciprocal = 0
    }

    public let loop: EventLoop
    public internal(set) var counters = Counters()
    /// Recent outcomes with their wall-clock time, newest last (`kxover status`).
    public private(set) var recent: [(at: Double, line: String)] = []
    /// Counts exchanges, DNS answers and key writes when set (kxoverd sets it).
    public var metrics: DaemonMetrics?
    /// Fault injection, wired only by kxoverd's --debug-stop-at-stage.
    public var faults: StageFaults?
    /// Sees each stage a client exchange enters, as it enters it (`kxover
    /// cross` prints them); exchanges already running keep the one they had.
    public var clientStageObserver: ((CrossoverEvent) -> Void)?

    var realms: [String: LocalRealm] {
        didSet { localRealms = Set(realms.keys) }
    }
    /// The names of `realms`, kept rather than computed: the relay asks for
    /// them on every request.
    public private(set) var localRealms: Set<String> = []
    let lookups: KXOverLookups
    /// Hosts' realms for host-based triggers; kxoverd shares it with the
    /// hostrealm socket, so that the KDC's module finds what the trigger resolved.
    public var hostRealms: HostRealmLookup
    /// Where client exchanges may connect (`peer_address_allow`); exchanges
    /// running keep the policy they started with.
    public var peerAddresses = PeerAddressPolicy()
    var pool: TLSPoolClient
    /// Time, timers and randomness for the engine and its records: the
    /// loop's own, or a test's virtual ones.
    let ports: any Clock & RandomSource & Timers
    private let dialer: PoolPeerDialer
    let logger: Logger
    private let clientTimeouts: CrossoverTimeouts
    let hostBasedTriggers: Bool
    typealias Waiter = (Result<ClientCrossover.Success, KXError>) -> Void
    /// Requests held while exchanges (or host-realm lookups) run: capped per
    /// exchange, per source prefix and in all (`HoldBudget`).
    public var holds = HoldBudget()
    /// Joining, backoff, draining and the limits: decided by the desk (pure, in the core).
    var desk = ExchangeDesk<Waiter>(admission: ExchangeAdmission(maxInFlight: 256, perMinute: 600))
    /// The record running for each pair the desk has started.
    var clientRecords: [ExchangeDesk<Waiter>.Pair: (record: ClientCrossover, started: Double)] = [:]
    var serverRecords: [String: (record: ServerCrossover, started: Double)] = [:]
    var serverConnections: [ObjectIdentifier: ServerConnection] = [:] {
        didSet { desk.serverSessions = serverConnections.count }
    }
    private var sequence = 0
    /// STARTTLS refusals per source network: logged once a minute each.
    var sourceRefusalLog = LogOnce<[UInt8]>()
    /// "Not retried yet": logged once per backoff and pair.
    private var backoffLog = LogOnce<ExchangeDesk<Waiter>.Pair>()

    public init(loop: EventLoop, realms: [LocalRealm], resolver: Resolver, pool: TLSPoolClient, logger: Logger,
                clientTimeouts: CrossoverTimeouts = .client, hostBasedTriggers: Bool = false,
                ports: (any Clock & RandomSource & Timers)? = nil) {
        self.loop = loop
        let byName = Dictionary(realms.map { ($0.policy.realm, $0) }, uniquingKeysWith: { a, _ in a })
        self.realms = byName
        localRealms = Set(byName.keys)
        lookups = KXOverLookups(resolver: resolver)
        hostRealms = HostRealmLookup(lookups: lookups)
        self.pool = pool
        self.ports = ports ?? LoopPorts(loop: loop)
        dialer = PoolPeerDialer(loop: loop, pool: pool)
        self.logger = logger
        self.clientTimeouts = clientTimeouts
        self.hostBasedTriggers = hostBasedTriggers
    }

    /// Client and server exchanges running now.
    public var exchangesInFlight: Int { clientRecords.count + serverRecords.count }
    /// Set by a SIGTERM: no new exchange starts; running ones may finish.
    public var draining: Bool { desk.draining }
    /// Global limits on new exchanges, both sides together (kxoverd sets them
    /// from max_exchanges_in_flight and max_exchanges_per_minute).
    public var admission: ExchangeAdmission {
        get { desk.admission }
        set { desk.setLimits(newValue) }
    }

    /// STARTTLS words one source network may send a minute.
    public var startTLSPerSource: Int {
        get { desk.startTLSPerSource.perMinute }
        set { desk.startTLSPerSource.perMinute = newValue }
    }

    /// The zone budget's limits (a reload may change them; the zones' counts stay).
    public var zoneLimits: ZoneBudget.Limits {
        get { desk.zones.limits }
        set { desk.zones.limits = newValue }
    }

    /// The desk's zone budget for an authenticated peer realm, counted and logged.
    func admitPeer(_ realm: String, side: String) -> KXError? {
        guard let (refusal, cap) = desk.admitPeer(realm, now: now) else { return nil }
        counters.refusedByLimits += 1
        metrics?.requested(cap.rawValue)
        logger.warning("\(side) exchange with \(LogText.escaped(realm)) refused: \(refusal.detail)")
        return refusal
    }

    /// Wall-clock seconds, the desk's clock.
    var now: Double { Double(ports.now.secondsSinceEpoch) }

    /// A refusal by the limits, counted and logged.
    func refusedByLimits(_ what: String, _ refusal: KXError) {
        counters.refusedByLimits += 1
        metrics?.requested("refused_by_limits")
        logger.warning("\(what) refused: \(refusal.detail)")
    }

    public func beginDraining() { desk.beginDraining() }

    /// A reload: new policies (etypes, lifetime, KDC host) and key stores for
    /// the same set of realms. Running exchanges finish under what they began with.
    public func reconfigure(realms updated: [LocalRealm]) {
        realms = Dictionary(updated.map { ($0.policy.realm, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// A crossover key was removed by hand (`kxover revoke` tells the running
    /// kxoverd): forget the pair's failure backoff so that the next request
    /// crosses again at once. Returns what was forgotten, for the reply.
    public func keyRemoved(_ principal: Principal) -> String {
        guard let service = principal.name.krbtgtRealm else { return "not a crossover principal" }
        let hadBackoff = desk.keyRemoved(.init(localRealm: principal.realm, target: service))
        note("\(principal) removed by kxover revoke; the next request for it crosses again" + (hadBackoff ? " (failure backoff cleared)" : ""))
        return "ok: kxoverd will cross again on the next request for \(principal)"
    }

    /// A new pool connection (the old one ended): new exchanges use it;
    /// running ones end with the old connection's sessions.
    public func usePool(_ client: TLSPoolClient) {
        pool = client
        dialer.pool = client
    }

    /// The key store of a local realm (the key maintainer's way in).
    public func keyStore(of realm: String) -> KeyStore? { realms[realm]?.keyStore }

    /// Abandons every running exchange (after the drain bound): each unwinds
    /// what it holds; a key write already handed to the KDB worker completes there.
    public func cancelAll() {
        for entry in clientRecords.values { entry.record.cancel() }
        for entry in serverRecords.values { entry.record.cancel() }
        for connection in serverConnections.values { connection.close() }
    }

    // MARK: - Client side

    /// Runs (or joins) the exchange that gives `localRealm` a key for the
    /// realm `target`. `knownEntry`: what the caller read from the KDB just
    /// now, so the exchange does not read it again.
    public func crossover(from localRealm: String, to target: String, knownEntry: KeyStoreEntry? = nil, renewal: Bool = false,
                          completion: @escaping (Result<ClientCrossover.Success, KXError>) -> Void) {
        guard let local = realms[localRealm] else {
            return completion(.failure(KXError(.offerRealm, "\(localRealm) is not a realm kxover serves here")))
        }
        if let refusal = policyRefusal(local: local.policy, remote: target) {
            return completion(.failure(refusal))
        }
        let pair = ExchangeDesk<Waiter>.Pair(localRealm: localRealm, target: target)
        switch desk.request(pair, waiter: completion, now: now, renewal: renewal) {
        case .join:
            counters.joined += 1
            metrics?.requested("joined")
            return
        case .refuse(let error, .backoff):
            counters.negativeCacheHits += 1
            metrics?.requested("backed_off")
            if let backoff = desk.backoffs[pair] {
                // Once per backoff at info; a flood of requests meeting it is counted, logged at debug.
                let line = "crossover \(pair) not retried yet: failed \(backoff.streak)x, next attempt in \(Int((backoff.until - now).rounded(.up))) s"
                if backoffLog.first(pair, until: backoff.until, now: now) {
                    logger.info("\(line)")
                } else {
                    logger.debug("\(line)")
                }
            }
            return completion(.failure(error))
        case .refuse(let error, .limits):
            refusedByLimits("crossover \(pair)", error)
            return completion(.failure(error))
        case .refuse(let error, .draining):
            return completion(.failure(error))
        case .start:
            break
        }
        sequence += 1
        let id = "kx\(sequence)"
        let log = Self.stageEvents(logger, metrics: metrics, faults: faults)
        let observer = clientStageObserver
        let record = ClientCrossover(
            id: id, local: local.policy, serviceRealm: target,
            ports: .init(lookups: lookups, dialer: dialer, keyStore: local.keyStore, clock: ports, random: ports, timers: ports,
                         admitPeer: { [weak self] realm in self?.admitPeer(realm, side: "client") }),
            timeouts: clientTimeouts, knownEntry: knownEntry, addressPolicy: peerAddresses, log: { event in log(event); observer?(event) }) { [weak self] result in
                self?.clientFinished(pair, result)
            }
        clientRecords[pair] = (record, ports.uptime)
        metrics?.requested("started")
        logger.info("\(id) crossover \(localRealm) → \(target)")
        record.start()
    }

    private func clientFinished(_ pair: ExchangeDesk<Waiter>.Pair, _ result: Result<ClientCrossover.Success, KXError>) {
        guard let entry = clientRecords.removeValue(forKey: pair) else { return }
        metrics?.exchangeFinished(side: "client", failure: Self.failure(result, in: entry.record.failedStage?.rawValue),
                                  seconds: seconds(since: entry.started))
        countRefusalReceived(result)
        let failure: KXError?
        switch result {
        case .success(let success):
            counters.clientSucceeded += 1
            failure = nil
            note("\(entry.record.id) ok \(success.clientRealm) → \(success.serviceRealm) kvno \(success.kvno) etypes \(success.etypes) via \(success.peerHost)")
        case .failure(let error):
            counters.clientFailed += 1
            failure = error
            note("\(entry.record.id) failed \(pair.localRealm)>\(pair.target): \(error)")
            // Lost to another kxoverd of the realm? Its waiters (held requests) wait for that key.
            if SiblingKeyWait.applies(to: error), let local = realms[pair.localRealm] {
                return awaitSiblingKey(.crossover(client: pair.localRealm, service: entry.record.serviceRealm), in: local.keyStore, pair: pair, result: result)
            }
        }
        for waiter in desk.finished(pair, failure: failure, now: now) { waiter(result) }
    }

    /// The peer policy's refusal of an outgoing crossover, logged and counted
    /// (nil when the policy allows it). No backoff: the answer is immediate
    /// and the same until a reload changes the policy.
    func policyRefusal(local: LocalRealmPolicy, remote: String) -> KXError? {
        let decision = local.peers.decide(peer: remote, direction: .outgoing)
        guard !decision.allowed else { return nil }
        counters.refusedByPolicy += 1
        metrics?.policyRefused(local: local.realm, .outgoing, rule: decision.rule)
        logger.info("crossover \(local.realm) → \(LogText.escaped(remote)) refused by policy: \(decision.ruleText)")
        return local.peers.refusal(peer: remote, local: local.realm, direction: .outgoing)
    }

    /// The peer refused because another exchange for the pair got there
    /// first, most likely a sibling kxoverd of this realm sharing the KDB:
    /// the pair stays "running" (new requests join it) while the KDB is read
    /// for that sibling's key, bounded; once it is there the refusal does not
    /// count as a failure (no backoff), and the waiters go on either way.
    private func awaitSiblingKey(_ principal: Principal, in store: KeyStore, pair: ExchangeDesk<Waiter>.Pair,
                                 result: Result<ClientCrossover.Success, KXError>) {
        guard case .failure(let error) = result else { return }
        logger.info("\(principal): \(error); waiting for the key another kxoverd of \(principal.realm) is storing")
        SiblingKeyWait(principal: principal, store: store, timers: ports, clock: ports).start { [weak self] found in
            guard let self else { return }
            note(found ? "\(principal): the key another kxoverd of \(principal.realm) stored is in the KDB; held requests go on"
                       : "\(principal): no key appeared in the KDB within the wait; held requests go on without one")
            for waiter in desk.finished(pair, failure: found ? nil : error, now: now) { waiter(result) }
        }
    }

    private func note(_ line: String) {
        logger.notice("\(line)")
        recent.append((Date().timeIntervalSince1970, line))
        if recent.count > 50 { recent.removeFirst(recent.count - 50) }
    }

    // MARK: - Server side

    func serverConnectionClosed(_ connection: ServerConnection) {
        serverConnections[ObjectIdentifier(connection)] = nil
    }

    func serverFinished(_ result: Result<ServerCrossover.Success, KXError>, id: String) {
        let entry = serverRecords.removeValue(forKey: id)
        if let entry {
            metrics?.exchangeFinished(side: "server", failure: Self.failure(result, in: entry.record.failedStage?.rawValue),
                                      seconds: seconds(since: entry.started))
            noteRefusalSent(entry.record, id: id)
        }
        switch result {
        case .success(let success):
            counters.serverSucceeded += 1
            note("\(id) served \(success.clientRealm) → \(success.serviceRealm) kvno \(success.kvno) for \(success.peerHost)")
            reciprocate(success, after: id)
        case .failure(let error):
            counters.serverFailed += 1
            if error.code == .policy, let realms = entry?.record.realms, let local = self.realms[realms.service] {
                counters.refusedByPolicy += 1
                metrics?.policyRefused(local: realms.service, .incoming,
                                       rule: local.policy.peers.decide(peer: realms.client, direction: .incoming).rule)
            }
            note("\(id) refused: \(error)")
        }
    }

    /// `reciprocal = true`: having served PEER → LOCAL, cross LOCAL → PEER
    /// unless our KDB already holds a usable key for it. That check is also
    /// what ends the chain: the peer, reciprocating our reverse exchange in
    /// turn, finds the key its own first exchange made. A running exchange
    /// for the pair is joined by the desk, never doubled.
    private func reciprocate(_ served: ServerCrossover.Success, after id: String) {
        guard let local = realms[served.serviceRealm], local.policy.peers.reciprocates(served.clientRealm) else { return }
        readIfCrossingNeeded(local, remote: served.clientRealm) { [weak self] read in
            guard let self, let read else { return }
            self.counters.reciprocal += 1
            self.metrics?.requested("reciprocal")
            self.logger.info("\(id): reciprocal crossover \(served.serviceRealm) → \(served.clientRealm)")
            self.crossover(from: served.serviceRealm, to: served.clientRealm, knownEntry: read) { _ in }
        }
    }

    /// Reads krbtgt/REMOTE@LOCAL once and passes the read on when an
    /// exchange is needed (absent, or no kvno usable now), nil when not: a
    /// usable key, a principal kxover does not manage, or a KDB that cannot
    /// be read (the request goes on; krb5kdc answers).
    func readIfCrossingNeeded(_ local: LocalRealm, remote: String, _ then: @escaping (KeyStoreEntry?) -> Void) {
        local.keyStore.inspect(.crossover(client: local.policy.realm, service: remote)) { [weak self] entry in
            guard let self else { return then(nil) }
            switch entry {
            case .success(.managed(let set)) where ExchangeDesk<Waiter>.hasUsableKey(set, now: self.ports.now):
                then(nil)
            case .success(.foreign), .failure:
                then(nil)
            case .success(let read):
                then(read)
            }
        }
    }

    func makeServerRecord(frame: [UInt8], session: KXSession, completion: @escaping (Result<ServerCrossover.Success, KXError>) -> Void) -> ServerCrossover {
        sequence += 1
        let id = "sx\(sequence)"
        let stores = realms.mapValues(\.keyStore)
        let record = ServerCrossover(id: id, frame: frame, session: session, locals: realms.values.map(\.policy),
                                     ports: .init(lookups: lookups, keyStores: stores, clock: ports, random: ports, timers: ports,
                                                  admitPeer: { [weak self] realm in self?.admitPeer(realm, side: "server") }),
                                     log: Self.stageEvents(logger, metrics: metrics, faults: faults)) { [weak self] result in
            self?.serverFinished(result, id: id)
            completion(result)
        }
        serverRecords[id] = (record, ports.uptime)
        return record
    }

    /// The stage that failed (the one before `failed`) and the error code.
    static func failure<S>(_ result: Result<S, KXError>, in stage: String?) -> (stage: String, code: String)? {
        guard case .failure(let error) = result else { return nil }
        return (stage ?? "?", error.code.rawValue)
    }

    /// Seconds since `start`, on the same port clock the stage events use.
    func seconds(since start: Double) -> Double {
        max(0, ports.uptime - start)
    }

    /// What each stage event becomes: a log line with the milliseconds since
    /// the exchange began, the ended stage's duration in the stage histogram
    /// (a stage ends when the next begins, the exchange finishes, or the
    /// stage fails), and, when kxoverd was started with a debug option, the
    /// fault hook, which sees each stage as it is entered, before its work.
    static func stageEvents(_ logger: Logger, metrics: DaemonMetrics? = nil, faults: StageFaults? = nil) -> (CrossoverEvent) -> Void {
        { event in
            logger.info("\(event) [+\(String(format: "%.1f", event.elapsed * 1000)) ms]")
            if let metrics, let ended = event.ended {
                metrics.stageEnded(side: ended.stage.side.rawValue, stage: ended.stage.name, seconds: ended.seconds)
            }
            if event.outcome == .entered { faults?.stageEntered(event.stage) }
        }
    }

    var kdcHosts: Set<String> { Set(realms.values.map { $0.policy.kdcHost.lowercased() }) }
}

extension CrossoverEngine: StartTLSAcceptor {
    public func acceptStartTLS(_ handoff: StartTLSHandoff) {
        // Draining and the limits were checked at the STARTTLS word
        // (`refusal(ofStartTLSFrom:)`); a drain that began since then just closes.
        if draining { close(handoff.fd); return }
        let connection = ServerConnection(handoff: handoff, engine: self, pool: pool, loop: loop, logger: logger)
        serverConnections[ObjectIdentifier(connection)] = connection
        connection.start()
    }
}
