import Foundation
import KXDNS
import KXEventLoop
import KXKDB
import KXOver
import Logging
import TLSPool

/// kxoverd assembled: one event loop, the validating resolver, the TLS Pool
/// (embedded or a socket), one key store per realm, the crossover engine and
/// the KDC front end in front of krb5kdc.
public final class Daemon {
    public let configuration: Configuration
    public let loop: EventLoop
    public let engine: CrossoverEngine
    public let frontEnd: KDCFrontEnd
    private let resolver: UnboundResolver
    /// The krb5kdc hostrealm module's socket, when `hostrealm_socket` is set.
    public let hostRealmServer: HostRealmServer?
    private let poolServer: TLSPoolServer?
    private let poolClient: TLSPoolClient
    private var signals: [Watch] = []
    private let logger: Logger

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

        let executor = loop.executor
        let locals = realms.map { realm in
            CrossoverEngine.LocalRealm(
                policy: realm.crossoverPolicy,
                keyStore: KadmKeyStore(configuration: realm.kadmin, executor: executor))
        }
        // Host-based referrals: the engine (resolving a host before krb5kdc sees
        // the request) and the hostrealm socket (the KDC asking moments later) share one cache.
        var lookupResolver: Resolver = resolver
        if configuration.hostRealmSocket != nil || configuration.hostBasedTriggers {
            lookupResolver = SecureTXTCache(upstream: resolver, loop: loop, ttl: Double(configuration.hostRealmCacheTTL))
        }
        engine = CrossoverEngine(loop: loop, realms: locals, resolver: lookupResolver, pool: poolClient, logger: logger,
                                 hostBasedTriggers: configuration.hostBasedTriggers, knownKeyTTL: configuration.knownKeyTTL)
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
    }

    /// Listens, then runs the loop until SIGTERM or SIGINT.
    public func run() throws {
        try frontEnd.start()
        do {
            try hostRealmServer?.start()
        } catch {
            frontEnd.close()
            throw error
        }
        signals.append(loop.onSignal(SIGTERM) { [weak self] in self?.stop("SIGTERM") })
        signals.append(loop.onSignal(SIGINT) { [weak self] in self?.stop("SIGINT") })
        // A reload is not implemented yet; SIGHUP must not kill a running KDC front end.
        signals.append(loop.onSignal(SIGHUP) { [logger] in
            logger.warning("SIGHUP: configuration reload is not implemented yet; still running with the configuration read at start")
        })
        signal(SIGPIPE, SIG_IGN)
        if let pidFile = configuration.pidFile {
            try? "\(getpid())\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        }
        logger.notice("kxoverd ready: realms \(engine.localRealms.sorted().joined(separator: ", ")), listening on \(configuration.listen.joined(separator: " ")), backend \(configuration.backendKDC ?? "?")")
        loop.run()
        if let pidFile = configuration.pidFile { unlink(pidFile) }
        logger.notice("kxoverd stopped")
    }

    private func stop(_ why: String) {
        logger.notice("\(why): stopping")
        frontEnd.close()
        hostRealmServer?.close()
        signals.forEach { $0.cancel() }
        signals.removeAll()
        poolClient.close()
        poolServer?.shutdown(timeout: 2)
        loop.stop()
    }
}
