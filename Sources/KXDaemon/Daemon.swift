import Foundation
import KXDNS
import KXEventLoop
import KXKDB
import KXOver
import Logging
import TLSPool

/// kxoverd assembled: one event loop, the validating resolver, the TLS Pool
/// (embedded or a socket), one key store per realm, the crossover engine, the
/// KDC front end in front of krb5kdc, the key maintainer, and the control and
/// metrics endpoints. Signals: SIGTERM/SIGINT drain, SIGHUP reloads.
public final class Daemon {
    public internal(set) var configuration: Configuration
    public let loop: EventLoop
    public let engine: CrossoverEngine
    public let frontEnd: KDCFrontEnd
    public let metrics = DaemonMetrics()
    public let maintainer: KeyMaintainer
    /// The krb5kdc hostrealm module's socket, when `hostrealm_socket` is set.
    public let hostRealmServer: HostRealmServer?
    let resolver: UnboundResolver
    let poolServer: TLSPoolServer?
    var poolClient: TLSPoolClient
    var poolRetry: Double = 0.2
    /// The pending reconnect attempt, cancelled when kxoverd stops.
    var poolRetryTimer: Watch?
    var stores: [String: any RealmKeyStore] = [:]
    /// Read-only views of replica KDBs (replica_kdc_profile), by realm.
    var replicaStores: [String: any RealmKeyStore] = [:]
    /// Stores a reload replaced: closed (their threads joined) at exit.
    var retiredStores: [any RealmKeyStore] = []
    /// The keeper's channel when this process is the engine of a
    /// privilege-separated kxoverd: every KDB access goes through it.
    let keeper: KeeperClient?
    var control: ControlServer?
    var metricsEndpoint: MetricsEndpoint?
    var signals: [Watch] = []
    let logger: Logger
    let started = Date()
    var reloads = 0
    var stopping = false
    var finished = false

    /// `keeperChannel`: this process is the engine of a privilege-separated
    /// kxoverd, and the keeper (which checked the KDBs) answers on that descriptor.
    public init(configuration: Configuration, logger: Logger, keeperChannel: Int32? = nil) throws {
        let problems = configuration.daemonProblems()
        guard problems.isEmpty else { throw ConfigurationError(path: configuration.path, problems: problems) }
        // The engine of a privilege-separated kxoverd has no KDB access: its keeper checked.
        if keeperChannel == nil { try KDBAccessCheck.atStart(configuration, logger: logger) }
        self.configuration = configuration
        self.logger = logger
        loop = try EventLoop()
        keeper = keeperChannel.map { [loop] in KeeperClient(fd: $0, loop: loop) }
        resolver = try UnboundResolver(configuration: configuration.resolver, loop: loop)
        // The validator's first step for every name, taken now rather than in
        // a user's first crossover; an anchor that does not validate is told now.
        TrustAnchorPriming.prime(TrustAnchorPriming.zones(of: configuration.resolver), resolver: resolver) { [logger] outcome in
            logger.log(level: outcome.validated ? .info : .warning, "\(outcome.logLine)")
        }

        // Secure SRV, address and TLSA answers, kept no longer than libunbound
        // would serve them: a warm crossover skips three trips to its thread.
        let answers = SecureAnswerCache(upstream: resolver, loop: loop, rule: .exchangeRecords)
        let pool = try Self.openPool(configuration, resolver: answers, loop: loop, logger: logger)
        poolServer = pool.server
        poolClient = pool.client

        let observed = ObservedResolver(answers, metrics: metrics)
        // Host-based referrals: the engine (resolving a host before krb5kdc sees
        // the request) and the hostrealm socket (the KDC asking moments later,
        // answered from memory only) share one cache of hosts' realms, over one
        // of Secure _kerberos TXT answers.
        var lookupResolver: Resolver = observed
        if configuration.hostRealmSocket != nil || configuration.hostBasedTriggers {
            lookupResolver = SecureAnswerCache(upstream: observed, loop: loop, rule: .hostRealmTXT(ttl: Double(configuration.hostRealmCacheTTL)))
        }
        engine = CrossoverEngine(loop: loop, realms: [], resolver: lookupResolver, pool: poolClient, logger: logger,
                                 hostBasedTriggers: configuration.hostBasedTriggers)
        let hostRealms = HostRealmLookup(lookups: KXOverLookups(resolver: lookupResolver),
                                         policy: .init(realmTTL: Double(configuration.hostRealmCacheTTL),
                                                       refusalTTL: Double(configuration.hostRealmNegativeTTL)))
        engine.hostRealms = hostRealms
        engine.metrics = metrics
        maintainer = KeyMaintainer(realms: [], interval: configuration.keyCheckInterval, loop: loop, engine: engine,
                                   metrics: metrics, logger: logger)
        hostRealmServer = configuration.hostRealmSocket.map { [loop] in
            HostRealmServer(path: $0, hostRealms: hostRealms, loop: loop, logger: logger)
        }
        frontEnd = try KDCFrontEnd(configuration: try configuration.frontEndConfiguration(), loop: loop)
        frontEnd.interceptor = engine
        frontEnd.startTLSAcceptor = engine
        applyRealms(configuration)
        declareStateMetrics()
        watchPool()
    }

    /// Key stores (kept across reloads while their kadm5 settings stay the
    /// same), engine policies and the maintainer's view, from `configuration`.
    func applyRealms(_ configuration: Configuration) {
        let realms = configuration.realms.values.sorted { $0.name < $1.name }
        /// The store already open for `kadmin`, or a new one (its settings changed).
        func keyStore(_ open: (any RealmKeyStore)?, for kadmin: KadminConfiguration,
                      _ database: KeeperRequest.Database) -> any RealmKeyStore {
            if let open, open.configuration == kadmin { return open }
            if let keeper { return ChannelKeyStore(configuration: kadmin, database: database, keeper: keeper) }
            return KadmKeyStore(configuration: kadmin, executor: loop.executor)
        }
        var kept: [String: any RealmKeyStore] = [:]
        for realm in realms { kept[realm.name] = keyStore(stores[realm.name], for: realm.kadmin, .primary) }
        retiredStores += stores.values.filter { old in !kept.values.contains { $0 === old } }
        for store in kept.values { store.onNotice { [logger] line in logger.notice("\(line)") } }
        stores = kept
        engine.reconfigure(realms: realms.map { realm in
            var store: KeyStore = ObservedKeyStore(kept[realm.name]!, realm: realm.name, metrics: metrics)
            if let replica = realm.replica {
                let reader = keyStore(replicaStores[realm.name], for: replica, .replica)
                if let old = replicaStores[realm.name], old !== reader { retiredStores.append(old) }
                replicaStores[realm.name] = reader
                store = ReplicaWaitingKeyStore(primary: store, replica: reader, bound: realm.replicaWait, timers: LoopPorts(loop: loop), logger: logger)
            } else {
                if let old = replicaStores[realm.name] { retiredStores.append(old) }
                replicaStores[realm.name] = nil
            }
            return CrossoverEngine.LocalRealm(policy: realm.crossoverPolicy, keyStore: store)
        })
        engine.peerAddresses = PeerAddressPolicy(allowed: configuration.peerAddressAllow)
        if engine.admission.maxInFlight != configuration.maxExchangesInFlight || engine.admission.perMinute != configuration.maxExchangesPerMinute {
            engine.admission = ExchangeAdmission(maxInFlight: configuration.maxExchangesInFlight, perMinute: configuration.maxExchangesPerMinute)
        }
        if engine.zoneLimits != configuration.zoneLimits { engine.zoneLimits = configuration.zoneLimits }
        engine.startTLSPerSource = configuration.maxStartTLSPerSourcePerMinute
        maintainer.reconfigure(realms: realms.map { .init(name: $0.name, store: kept[$0.name]!, lifetime: $0.keyLifetime, kdcHost: $0.kdcHost) },
                               interval: configuration.keyCheckInterval)
    }

    /// Listens, then runs the loop until SIGTERM or SIGINT (and the drain).
    /// `beforeServing` runs once every socket is bound and before any byte
    /// from the network is read: the engine drops its privileges there.
    public func run(beforeServing: () throws -> Void = {}) throws {
        try frontEnd.start()
        do {
            try hostRealmServer?.start()
            if let path = configuration.controlSocket {
                control = try ControlServer(path: path, loop: loop) { [weak self] command in self?.answer(command) ?? "" }
            }
            if let listen = configuration.metricsListen {
                let endpoint = try MetricsEndpoint(listen: try SocketAddress(parsing: listen, defaultPort: MetricsEndpoint.defaultPort), loop: loop) { [weak self] in
                    self?.metrics.registry.render() ?? ""
                }
                metricsEndpoint = endpoint
                logger.notice("metrics on http://\(endpoint.address)/metrics")
            }
            try beforeServing()
        } catch {
            frontEnd.close()
            closeEndpoints()
            throw error
        }
        keeper?.start { [weak self] reason in
            self?.logger.error("the keeper's channel is gone (\(reason)): stopping")
            self?.stop("the keeper's loss")
        }
        signals.append(loop.onSignal(SIGTERM) { [weak self] in self?.stop("SIGTERM") })
        signals.append(loop.onSignal(SIGINT) { [weak self] in self?.stop("SIGINT") })
        signals.append(loop.onSignal(SIGHUP) { [weak self] in self?.reload() })
        signal(SIGPIPE, SIG_IGN)
        // The keeper writes the pid file of a privilege-separated kxoverd.
        if keeper == nil, let pidFile = configuration.pidFile {
            try? "\(getpid())\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        }
        maintainer.start()
        logger.notice("kxoverd ready: realms \(engine.localRealms.sorted().joined(separator: ", ")), listening on \(configuration.listen.joined(separator: " ")), backend \(configuration.backendKDC ?? "?")")
        loop.run()
        if keeper == nil, let pidFile = configuration.pidFile { unlink(pidFile) }
        logger.notice("kxoverd stopped")
    }

}
