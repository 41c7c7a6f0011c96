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
        public var replays = 0
    }

    public let loop: EventLoop
    public private(set) var counters = Counters()
    /// Recent outcomes, newest last (for `kxover status` and logs).
    public private(set) var recent: [String] = []

    private let realms: [String: LocalRealm]
    private let lookups: KXOverLookups
    private let pool: TLSPoolClient
    private let ports: LoopPorts
    private let dialer: PoolPeerDialer
    private let logger: Logger
    private let clientTimeouts: CrossoverTimeouts
    private let hostBasedTriggers: Bool
    private var inFlight: [String: (record: ClientCrossover, waiters: [(Result<ClientCrossover.Success, KXError>) -> Void])] = [:]
    private var failures: [String: (until: Double, error: KXError, streak: Int)] = [:]
    private var serverConnections: [ObjectIdentifier: ServerConnection] = [:]
    /// Crossover principals known to hold a usable key, until when we re-check
    /// the KDB (a key revoked by hand is noticed within `knownKeyTTL`).
    private var knownKeys: [Principal: KerberosTime] = [:]
    private let knownKeyTTL: Int64
    private var sequence = 0

    public init(loop: EventLoop, realms: [LocalRealm], resolver: Resolver, pool: TLSPoolClient, logger: Logger,
                clientTimeouts: CrossoverTimeouts = .client, hostBasedTriggers: Bool = false, knownKeyTTL: Int64 = 60) {
        self.knownKeyTTL = knownKeyTTL
        self.loop = loop
        self.realms = Dictionary(realms.map { ($0.policy.realm, $0) }, uniquingKeysWith: { a, _ in a })
        lookups = KXOverLookups(resolver: resolver)
        self.pool = pool
        ports = LoopPorts(loop: loop)
        dialer = PoolPeerDialer(loop: loop, pool: pool)
        self.logger = logger
        self.clientTimeouts = clientTimeouts
        self.hostBasedTriggers = hostBasedTriggers
    }

    public var localRealms: Set<String> { Set(realms.keys) }
    public var exchangesInFlight: Int { inFlight.count }

    // MARK: - Client side

    /// Runs (or joins) the exchange that gives `localRealm` a key for `target`.
    public func crossover(from localRealm: String, to target: ClientCrossover.Target,
                          completion: @escaping (Result<ClientCrossover.Success, KXError>) -> Void) {
        guard let local = realms[localRealm] else {
            return completion(.failure(KXError(.offerRealm, "\(localRealm) is not a realm kxover serves here")))
        }
        let key = "\(localRealm)>\(target)"
        if var entry = inFlight[key] {
            counters.joined += 1
            entry.waiters.append(completion)
            inFlight[key] = entry
            return
        }
        let now = Date().timeIntervalSince1970
        if let failure = failures[key], failure.until > now {
            counters.negativeCacheHits += 1
            logger.info("crossover \(key) not retried yet: failed \(failure.streak)x, next attempt in \(Int(failure.until - now)) s")
            return completion(.failure(KXError(failure.error.code, "\(failure.error.detail) (failed \(failure.streak)x; next attempt in \(Int(failure.until - now)) s)")))
        }
        sequence += 1
        let id = "kx\(sequence)"
        let record = ClientCrossover(
            id: id, local: local.policy, target: target,
            ports: .init(lookups: lookups, dialer: dialer, keyStore: local.keyStore, clock: ports, random: ports, timers: ports),
            timeouts: clientTimeouts, log: Self.timedLog(logger)) { [weak self] result in
                self?.clientFinished(key, result)
            }
        inFlight[key] = (record, [completion])
        logger.info("\(id) crossover \(localRealm) → \(target)")
        record.start()
    }

    private func clientFinished(_ key: String, _ result: Result<ClientCrossover.Success, KXError>) {
        guard let entry = inFlight.removeValue(forKey: key) else { return }
        switch result {
        case .success(let success):
            counters.clientSucceeded += 1
            failures[key] = nil
            knownKeys[.crossover(client: success.clientRealm, service: success.serviceRealm)] = min(success.till, ports.now.adding(seconds: knownKeyTTL))
            note("\(entry.record.id) ok \(success.clientRealm) → \(success.serviceRealm) kvno \(success.kvno) etypes \(success.etypes) via \(success.peerHost)")
        case .failure(let error):
            counters.clientFailed += 1
            let streak = (failures[key]?.streak ?? 0) + 1
            // Back off: 10 s, 20 s, 40 s ... at most 10 minutes.
            let wait = min(600, 10 * pow(2, Double(streak - 1)))
            failures[key] = (Date().timeIntervalSince1970 + wait, error, streak)
            note("\(entry.record.id) failed \(key): \(error)")
        }
        for waiter in entry.waiters { waiter(result) }
    }

    private func note(_ line: String) {
        logger.notice("\(line)")
        recent.append(line)
        if recent.count > 50 { recent.removeFirst(recent.count - 50) }
    }

    // MARK: - Server side

    func serverConnectionClosed(_ connection: ServerConnection) {
        serverConnections[ObjectIdentifier(connection)] = nil
    }

    func serverFinished(_ result: Result<ServerCrossover.Success, KXError>, id: String) {
        switch result {
        case .success(let success):
            counters.serverSucceeded += 1
            note("\(id) served \(success.clientRealm) → \(success.serviceRealm) kvno \(success.kvno) for \(success.peerHost)")
        case .failure(let error):
            counters.serverFailed += 1
            note("\(id) refused: \(error)")
        }
    }

    func makeServerRecord(frame: [UInt8], session: KXSession, completion: @escaping (Result<ServerCrossover.Success, KXError>) -> Void) -> ServerCrossover {
        sequence += 1
        let id = "sx\(sequence)"
        let stores = realms.mapValues(\.keyStore)
        return ServerCrossover(id: id, frame: frame, session: session, locals: realms.values.map(\.policy),
                               ports: .init(lookups: lookups, keyStores: stores, clock: ports, random: ports, timers: ports),
                               log: Self.timedLog(logger)) { [weak self] result in
            self?.serverFinished(result, id: id)
            completion(result)
        }
    }

    /// Logs each stage with the milliseconds since the exchange began.
    static func timedLog(_ logger: Logger) -> (CrossoverEvent) -> Void {
        let start = DispatchTime.now().uptimeNanoseconds
        return { event in
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            logger.info("\(event) [+\(String(format: "%.1f", ms)) ms]")
        }
    }

    var kdcHosts: Set<String> { Set(realms.values.map { $0.policy.kdcHost.lowercased() }) }
}

extension CrossoverEngine: StartTLSAcceptor {
    public func acceptStartTLS(_ handoff: StartTLSHandoff) {
        let connection = ServerConnection(handoff: handoff, engine: self, pool: pool, loop: loop, logger: logger)
        serverConnections[ObjectIdentifier(connection)] = connection
        connection.start()
    }
}

extension CrossoverEngine {
    /// Before a request reaches krb5kdc: a TGS-REQ for krbtgt/REMOTE@LOCAL
    /// whose key is not known to exist is held while the exchange runs, then
    /// forwarded (after a failure too: the KDC then answers as it would have).
    ///
    /// With host-based triggers, a referral-style TGS-REQ for service/host
    /// (NT-SRV-HST, canonicalize) is held while DNSSEC names the host's realm:
    /// a remote realm without a known key is crossed to first, so that
    /// krb5kdc, asking the hostrealm module, finds krbtgt/REMOTE@LOCAL and
    /// answers with the referral; our own realm, no realm, or an insecure or
    /// bogus answer lets the request through at once, untouched.
    public func requestArrived(_ request: [UInt8], client: RelayClient, forward: @escaping () -> Void) {
        /// Holds the request for `decision` unless its key is known to exist.
        func crossUnlessKeyExists(_ decision: CrossoverTrigger.Decision, asked: String) {
            guard case .realm(let remote) = decision.target, let local = realms[decision.localRealm] else { return forward() }
            let principal = Principal.crossover(client: decision.localRealm, service: remote)
            let now = ports.now
            if let till = knownKeys[principal], now < till { return forward() }
            local.keyStore.inspect(principal) { [weak self] entry in
                guard let self else { return forward() }
                switch entry {
                case .success(.managed(let set)) where set.versions.contains(where: { ($0.till ?? now) > now && $0.from.map { $0 <= now } ?? true }):
                    self.knownKeys[principal] = min(set.versions.compactMap(\.till).max() ?? now, now.adding(seconds: self.knownKeyTTL))
                    forward()
                case .success(.foreign), .failure:
                    forward()
                case .success:
                    self.counters.triggers += 1
                    self.logger.info("trigger: \(client) asked \(decision.localRealm) for \(asked); holding the request")
                    self.crossover(from: decision.localRealm, to: decision.target) { _ in forward() }
                }
            }
        }

        if hostBasedTriggers, let asked = CrossoverTrigger.hostBasedRequest(of: request, localRealms: localRealms) {
            // DNS gets a bounded share of the hold; the request then goes on as it came.
            var settled = false
            var bound: Cancellable?
            let lookup = lookups.realm(ofHost: asked.host) { [weak self] result in
                guard !settled else { return }
                settled = true
                bound?.cancel()
                guard let self else { return forward() }
                let realm = try? result.get()
                guard let decision = CrossoverTrigger.hostBasedDecision(asked, hostRealm: realm, localRealms: self.localRealms) else {
                    self.logger.debug("\(asked.service)/\(asked.host): realm \(realm ?? "not vouched for by DNSSEC"); no crossover")
                    return forward()
                }
                crossUnlessKeyExists(decision, asked: "\(asked.service)/\(asked.host) (realm \(realm ?? "?"))")
            }
            if !settled {
                bound = ports.schedule(after: 5) { [weak self] in
                    guard !settled else { return }
                    settled = true
                    lookup.cancel()
                    self?.logger.info("\(asked.service)/\(asked.host): no DNS answer within 5 s; forwarding")
                    forward()
                }
            }
            return
        }
        guard let decision = CrossoverTrigger.crossRealmTarget(of: request, localRealms: localRealms),
              case .realm(let remote) = decision.target else { return forward() }
        crossUnlessKeyExists(decision, asked: "krbtgt/\(remote)")
    }
}

extension CrossoverEngine: RelayInterceptor {
    /// KRB-ERROR 7 for krbtgt/REMOTE@LOCAL: hold the user's request, run the
    /// exchange, then replay the request to the KDC (which now knows the key).
    public func backendReplied(request: [UInt8], reply: [UInt8], client: RelayClient,
                               deliver: @escaping RelayDeliver, replay: @escaping RelayReplay) {
        guard let decision = CrossoverTrigger.decide(request: request, reply: reply, localRealms: localRealms,
                                                     hostBased: hostBasedTriggers) else {
            return deliver(reply)
        }
        counters.triggers += 1
        logger.info("trigger: \(client) asked \(decision.localRealm) for \(decision.target); holding the request")
        crossover(from: decision.localRealm, to: decision.target) { [weak self] result in
            guard case .success = result else { return deliver(reply) }
            self?.counters.replays += 1
            replay { replayed in
                switch replayed {
                case .success(let newReply): deliver(newReply)
                case .failure: deliver(reply)
                }
            }
        }
    }
}
