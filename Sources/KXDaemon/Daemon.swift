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
    public private(set) var configuration: Configuration
    public let loop: EventLoop
    public let engine: CrossoverEngine
    public let frontEnd: KDCFrontEnd
    public let metrics = DaemonMetrics()
    public let maintainer: KeyMaintainer
    /// The krb5kdc hostrealm module's socket, when `hostrealm_socket` is set.
    public let hostRealmServer: HostRealmServer?
    let resolver: UnboundResolver
    let poolServer: TLSPoolServer?
    private var poolClient: TLSPoolClient
    private var poolRetry: Double = 0.2
    private(set) var stores: [String: KadmKeyStore] = [:]
    /// Read-only views of replica KDBs (replica_kdc_profile), by realm.
    private var replicaStores: [String: KadmKeyStore] = [:]
    private var control: ControlServer?
    private var metricsEndpoint: MetricsEndpoint?
    private var signals: [Watch] = []
    let logger: Logger
    let started = Date()
    var reloads = 0
    private var stopping = false

    public init(configuration: Configuration, logger: Logger) throws {
        let problems = configuration.daemonProblems()
        guard problems.isEmpty else { throw ConfigurationError(path: configuration.path, problems: problems) }
        self.configuration = configuration
        self.logger = logger
        loop = try EventLoop()
        resolver = try UnboundResolver(configuration: configuration.resolver, loop: loop)

        let realms = configuration.realms.values.sorted { $0.name < $1.name }
        if configuration.tlsPool == "embedded" {
            var pool = TLSPoolConfiguration(
                identities: realms.map(\.poolIdentity),
                tlsaResolver: LoopTLSAResolver(resolver: resolver, executor: loop.executor, timeout: configuration.resolver.queryTimeout + 1))
            pool.log = { [logger] line in logger.debug("pool: \(line)") }
            let server = try TLSPoolServer(configuration: pool)
            poolServer = server
            poolClient = TLSPoolClient(connection: try server.connectInProcess(), loop: loop)
        } else {
            poolServer = nil
            poolClient = try TLSPoolClient.connect(path: configuration.tlsPool, loop: loop)
        }

        let observed = ObservedResolver(resolver, metrics: metrics)
        // Host-based referrals: the engine (resolving a host before krb5kdc sees
        // the request) and the hostrealm socket (the KDC asking moments later) share one cache.
        var lookupResolver: Resolver = observed
        if configuration.hostRealmSocket != nil || configuration.hostBasedTriggers {
            lookupResolver = SecureTXTCache(upstream: observed, loop: loop, ttl: Double(configuration.hostRealmCacheTTL))
        }
        engine = CrossoverEngine(loop: loop, realms: [], resolver: lookupResolver, pool: poolClient, logger: logger,
                                 hostBasedTriggers: configuration.hostBasedTriggers, knownKeyTTL: configuration.knownKeyTTL)
        engine.metrics = metrics
        maintainer = KeyMaintainer(realms: [], interval: configuration.keyCheckInterval, loop: loop, engine: engine,
                                   metrics: metrics, logger: logger)
        hostRealmServer = configuration.hostRealmSocket.map { [loop] in
            HostRealmServer(path: $0, lookups: KXOverLookups(resolver: lookupResolver), loop: loop, logger: logger)
        }
        let frontConfiguration = FrontEndConfiguration(
            realm: realms[0].name,
            listen: try configuration.listen.map { try SocketAddress(parsing: $0, defaultPort: 88) },
            backend: try SocketAddress(parsing: configuration.backendKDC!, defaultPort: 88))
        frontEnd = try KDCFrontEnd(configuration: frontConfiguration, loop: loop)
        frontEnd.interceptor = engine
        frontEnd.startTLSAcceptor = engine
        applyRealms(configuration)
        declareStateMetrics()
        watchPool()
    }

    /// Key stores (kept across reloads while their kadm5 settings stay the
    /// same), engine policies and the maintainer's view, from `configuration`.
    private func applyRealms(_ configuration: Configuration) {
        let realms = configuration.realms.values.sorted { $0.name < $1.name }
        var kept: [String: KadmKeyStore] = [:]
        for realm in realms {
            if let store = stores[realm.name], store.configuration == realm.kadmin {
                kept[realm.name] = store
            } else {
                kept[realm.name] = KadmKeyStore(configuration: realm.kadmin, executor: loop.executor)
            }
        }
        stores = kept
        engine.reconfigure(realms: realms.map { realm in
            var store: KeyStore = ObservedKeyStore(kept[realm.name]!, realm: realm.name, metrics: metrics)
            if let replica = realm.replica {
                let reader = replicaStores[realm.name].flatMap { $0.configuration == replica ? $0 : nil }
                    ?? KadmKeyStore(configuration: replica, executor: loop.executor)
                replicaStores[realm.name] = reader
                store = ReplicaWaitingKeyStore(primary: store, replica: reader, bound: realm.replicaWait, loop: loop, logger: logger)
            } else {
                replicaStores[realm.name] = nil
            }
            return CrossoverEngine.LocalRealm(policy: realm.crossoverPolicy, keyStore: store)
        }, knownKeyTTL: configuration.knownKeyTTL)
        if engine.admission.maxInFlight != configuration.maxExchangesInFlight || engine.admission.perMinute != configuration.maxExchangesPerMinute {
            engine.admission = ExchangeAdmission(maxInFlight: configuration.maxExchangesInFlight, perMinute: configuration.maxExchangesPerMinute)
        }
        maintainer.reconfigure(realms: realms.map { .init(name: $0.name, store: kept[$0.name]!, lifetime: $0.keyLifetime) },
                               interval: configuration.keyCheckInterval)
    }

    /// The pool connection should live as long as kxoverd; if it ends anyway
    /// (the pool restarted, a protocol error), running exchanges fail and a
    /// new connection is made, retrying with backoff, instead of leaving
    /// kxoverd unable to cross until someone restarts it.
    private func watchPool() {
        poolClient.onClose = { [weak self] failure in
            guard let self, !self.finished else { return }
            self.logger.error("TLS Pool connection lost (\(failure)); reconnecting")
            self.reconnectPool()
        }
    }

    private func reconnectPool() {
        _ = loop.schedule(after: poolRetry) { [weak self] in
            guard let self, !self.finished else { return }
            do {
                let client = try self.poolServer.map { TLSPoolClient(connection: try $0.connectInProcess(), loop: self.loop) }
                    ?? TLSPoolClient.connect(path: self.configuration.tlsPool, loop: self.loop)
                self.poolClient = client
                self.engine.usePool(client)
                self.watchPool()
                self.poolRetry = 0.2
                self.logger.notice("TLS Pool connection re-established")
            } catch {
                self.poolRetry = min(10, self.poolRetry * 2)
                self.logger.error("TLS Pool reconnect failed (\(error)); next attempt in \(self.poolRetry) s")
                self.reconnectPool()
            }
        }
    }

    /// Listens, then runs the loop until SIGTERM or SIGINT (and the drain).
    public func run() throws {
        try frontEnd.start()
        do {
            try hostRealmServer?.start()
            if let path = configuration.controlSocket {
                control = try ControlServer(path: path, loop: loop) { [weak self] command in self?.answer(command) ?? "" }
            }
            if let listen = configuration.metricsListen {
                let endpoint = try MetricsEndpoint(listen: try SocketAddress(parsing: listen, defaultPort: 9749), loop: loop) { [weak self] in
                    self?.metrics.registry.render() ?? ""
                }
                metricsEndpoint = endpoint
                logger.notice("metrics on http://\(endpoint.address)/metrics")
            }
        } catch {
            closeEndpoints()
            throw error
        }
        signals.append(loop.onSignal(SIGTERM) { [weak self] in self?.stop("SIGTERM") })
        signals.append(loop.onSignal(SIGINT) { [weak self] in self?.stop("SIGINT") })
        signals.append(loop.onSignal(SIGHUP) { [weak self] in self?.reload() })
        signal(SIGPIPE, SIG_IGN)
        if let pidFile = configuration.pidFile {
            try? "\(getpid())\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        }
        maintainer.start()
        logger.notice("kxoverd ready: realms \(engine.localRealms.sorted().joined(separator: ", ")), listening on \(configuration.listen.joined(separator: " ")), backend \(configuration.backendKDC ?? "?")")
        loop.run()
        if let pidFile = configuration.pidFile { unlink(pidFile) }
        logger.notice("kxoverd stopped")
    }

    /// First signal: no new exchanges, running ones get `drain_timeout` to
    /// finish while the front end keeps relaying; then whatever is left is
    /// abandoned. A second signal stops at once (still abandoning cleanly).
    private func stop(_ why: String) {
        if stopping {
            logger.notice("\(why) again: abandoning \(engine.exchangesInFlight) exchange(s) now")
            engine.cancelAll()
            return finish()
        }
        stopping = true
        engine.beginDraining()
        maintainer.stop()
        guard engine.exchangesInFlight > 0 else {
            logger.notice("\(why): stopping")
            return finish()
        }
        let bound = Double(configuration.drainTimeout)
        logger.notice("\(why): draining \(engine.exchangesInFlight) exchange(s) for up to \(Int(bound)) s")
        let deadline = Date(timeIntervalSinceNow: bound)
        func poll() {
            if engine.exchangesInFlight == 0 {
                logger.notice("drained; stopping")
                return finish()
            }
            if Date() >= deadline {
                logger.warning("drain bound of \(Int(bound)) s reached: abandoning \(engine.exchangesInFlight) exchange(s)")
                engine.cancelAll()
                return finish()
            }
            _ = loop.schedule(after: 0.05) { poll() }
        }
        poll()
    }

    private var finished = false

    private func finish() {
        guard !finished else { return }
        finished = true
        frontEnd.close()
        closeEndpoints()
        signals.forEach { $0.cancel() }
        signals.removeAll()
        poolClient.close()
        poolServer?.shutdown(timeout: 2)
        // A key write is several kadm5 calls: let one in progress complete.
        for (realm, store) in stores where !store.finishPendingWork(timeout: 5) {
            logger.warning("\(realm): a KDB job was still running after 5 s; exiting anyway")
        }
        loop.stop()
    }

    private func closeEndpoints() {
        hostRealmServer?.close()
        control?.close()
        control = nil
        metricsEndpoint?.close()
        metricsEndpoint = nil
    }

    // MARK: - SIGHUP

    /// Re-reads the configuration file. Certificates and keys, etypes, key
    /// lifetime, KDC host, kadm5 settings, known_key_ttl, key_check_interval,
    /// drain_timeout and the exchange limits apply at once; sockets, DNS and the realm set need a
    /// restart and are reported, not applied. All or nothing: a file that
    /// fails to load, or certificates that fail to load, change nothing.
    /// Relayed traffic is not touched: the listening sockets stay open.
    func reload() {
        let next: Configuration
        do {
            next = try Configuration.load(path: configuration.path)
            let problems = next.daemonProblems()
            guard problems.isEmpty else { throw ConfigurationError(path: next.path, problems: problems) }
            if next.realms.keys.sorted() != configuration.realms.keys.sorted() {
                throw ConfigurationError(path: next.path, problems: ["the set of realms changed (\(configuration.realms.keys.sorted().joined(separator: ", ")) → \(next.realms.keys.sorted().joined(separator: ", "))): restart kxoverd for that"])
            }
            if let poolServer, next.tlsPool == "embedded" {
                try poolServer.reloadIdentities(next.realms.values.sorted { $0.name < $1.name }.map(\.poolIdentity))
            }
        } catch {
            metrics.reload(applied: false)
            // One line: whoever greps the log finds the reason beside the verdict.
            let reason = (error as? ConfigurationError).map { "\($0.path): \($0.problems.joined(separator: "; "))" } ?? "\(error)"
            return logger.error("SIGHUP: reload rejected, still running with the previous configuration: \(reason)")
        }
        let restartOnly = restartOnlyChanges(from: configuration, to: next)
        for change in restartOnly { logger.warning("SIGHUP: \(change) changed; it takes effect at the next restart") }
        var applied = next
        applied.listen = configuration.listen
        applied.backendKDC = configuration.backendKDC
        applied.tlsPool = configuration.tlsPool
        applied.hostRealmSocket = configuration.hostRealmSocket
        applied.hostBasedTriggers = configuration.hostBasedTriggers
        applied.hostRealmCacheTTL = configuration.hostRealmCacheTTL
        applied.controlSocket = configuration.controlSocket
        applied.metricsListen = configuration.metricsListen
        applied.pidFile = configuration.pidFile
        applied.resolver = configuration.resolver
        configuration = applied
        applyRealms(applied)
        reloads += 1
        metrics.reload(applied: true)
        logger.notice("SIGHUP: configuration \(applied.path) reloaded (certificates\(poolServer == nil ? " are the pool's" : " reloaded"), realms \(applied.realms.keys.sorted().joined(separator: ", ")))")
    }

    private func restartOnlyChanges(from old: Configuration, to new: Configuration) -> [String] {
        var changes: [String] = []
        if old.listen != new.listen { changes.append("listen") }
        if old.backendKDC != new.backendKDC { changes.append("backend_kdc") }
        if old.tlsPool != new.tlsPool { changes.append("tls_pool") }
        if old.hostRealmSocket != new.hostRealmSocket { changes.append("hostrealm_socket") }
        if old.hostBasedTriggers != new.hostBasedTriggers { changes.append("host_based_triggers") }
        if old.hostRealmCacheTTL != new.hostRealmCacheTTL { changes.append("hostrealm_cache_ttl") }
        if old.controlSocket != new.controlSocket { changes.append("control_socket") }
        if old.metricsListen != new.metricsListen { changes.append("metrics_listen") }
        if old.pidFile != new.pidFile { changes.append("pid_file") }
        if old.resolver != new.resolver { changes.append("the DNS settings (dns_*)") }
        return changes
    }
}
