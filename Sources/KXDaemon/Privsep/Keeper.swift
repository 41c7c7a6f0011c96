import Foundation
import KXEventLoop
import KXKDB
import KXOver
import Logging

/// The privileged half of kxoverd (`privsep = true`, the default): it
/// checks the KDBs, holds kadm5 (and in local mode the master key), starts
/// the engine as `kxover_user` with one end of a socketpair, and answers the
/// engine's checked requests (KeeperServer). It opens no network socket and
/// reads nothing from the network. Signals: SIGTERM/SIGINT go to the engine,
/// which drains; the keeper ends after it. SIGHUP reloads both. An engine
/// that dies is started again, after a pause that doubles up to 30 s.
public final class Keeper {
    public static let restartPauses: ClosedRange<Double> = 0.5...30
    /// An engine that ran this long before dying starts again after the shortest pause.
    static let healthyRun: Double = 60

    private var configuration: Configuration
    private let logger: Logger
    private let loop: EventLoop
    private let engineArguments: [String]
    private var stores: [String: KadmKeyStore] = [:]
    private var replicas: [String: KadmKeyStore] = [:]
    private var retired: [KadmKeyStore] = []
    private var server: KeeperServer?
    private var engine: pid_t?
    private var engineStarted = Date()
    private var restartPause = Keeper.restartPauses.lowerBound
    private var restartTimer: Watch?
    private var killTimer: Watch?
    private var signals: [Watch] = []
    private var stopping = false
    private var exitStatus: Int32 = 0
    private var starts = 0

    /// Arguments given to the first engine only (a test's --debug-stop-at-stage:
    /// an engine started again after a fault must run normally).
    private let firstEngineArguments: [String]

    /// `engineArguments` follow the executable in the engine's command line.
    public init(configuration: Configuration, logger: Logger, engineArguments: [String], firstEngineArguments: [String] = []) throws {
        let problems = configuration.daemonProblems()
        guard problems.isEmpty else { throw ConfigurationError(path: configuration.path, problems: problems) }
        // The engine cannot do this: it has no KDB access.
        try KDBAccessCheck.atStart(configuration, logger: logger)
        try PrivilegeDrop.requireRoot(for: try PrivilegeDrop.account(named: configuration.kxoverUser))
        self.configuration = configuration
        self.logger = logger
        self.engineArguments = engineArguments
        self.firstEngineArguments = firstEngineArguments
        loop = try EventLoop()
        applyRealms(configuration)
    }

    /// Runs until the engine has stopped after SIGTERM/SIGINT; the exit status.
    public func run() -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        signals.append(loop.onSignal(SIGTERM) { [weak self] in self?.stop(SIGTERM, "SIGTERM") })
        signals.append(loop.onSignal(SIGINT) { [weak self] in self?.stop(SIGINT, "SIGINT") })
        signals.append(loop.onSignal(SIGHUP) { [weak self] in self?.reload() })
        signals.append(loop.onSignal(SIGCHLD) { [weak self] in self?.reap() })
        if let pidFile = configuration.pidFile {
            try? "\(getpid())\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        }
        logger.notice("realms \(configuration.realms.keys.sorted().joined(separator: ", ")); the engine runs as \(configuration.kxoverUser)")
        startEngine()
        loop.run()
        signals.forEach { $0.cancel() }
        for store in Array(stores.values) + Array(replicas.values) + retired where !store.close(timeout: 5) {
            logger.warning("\(store.configuration.realm): a KDB job was still running after 5 s; exiting anyway")
        }
        removeEngineSockets()
        if let pidFile = configuration.pidFile { unlink(pidFile) }
        logger.notice("stopped")
        return exitStatus
    }

    private func applyRealms(_ configuration: Configuration) {
        func keyStore(_ open: KadmKeyStore?, _ kadmin: KadminConfiguration) -> KadmKeyStore {
            if let open, open.configuration == kadmin { return open }
            if let open { retired.append(open) }
            let store = KadmKeyStore(configuration: kadmin, executor: loop.executor)
            store.onNotice { [logger] line in logger.notice("\(line)") }
            return store
        }
        var realms: [KeeperServer.Realm] = []
        for realm in configuration.realms.values.sorted(by: { $0.name < $1.name }) {
            stores[realm.name] = keyStore(stores[realm.name], realm.kadmin)
            if let replica = realm.replica {
                replicas[realm.name] = keyStore(replicas[realm.name], replica)
            } else if let old = replicas.removeValue(forKey: realm.name) {
                retired.append(old)
            }
            realms.append(.init(name: realm.name, store: stores[realm.name]!, replica: replicas[realm.name], lifetime: realm.keyLifetime))
        }
        server?.reconfigure(realms: realms, checkInterval: configuration.keyCheckInterval)
        self.realms = realms
    }
    private var realms: [KeeperServer.Realm] = []

    /// Far above what the engine's own limits let through: each exchange
    /// stores one key, reciprocal crossover and renewals one more.
    private var storesPerMinute: Int { 2 * configuration.maxExchangesPerMinute + 60 }

    private func startEngine() {
        restartTimer = nil
        do {
            let (pid, channel) = try EngineProcess.spawn(arguments: engineArguments + (starts == 0 ? firstEngineArguments : []))
            engine = pid
            engineStarted = Date()
            starts += 1
            let server = KeeperServer(fd: channel, loop: loop, realms: realms, checkInterval: configuration.keyCheckInterval,
                                      storesPerMinute: storesPerMinute, logger: logger)
            self.server = server
            server.start { [weak self, weak server] reason in
                self?.channelEnded(reason, malformed: server?.endedOnMalformedInput ?? false, pid: pid)
            }
            logger.info("engine started (pid \(pid))")
        } catch {
            logger.error("\(error)")
            scheduleRestart()
        }
    }

    /// The engine closed its end (it is stopping) or sent what does not decode (it is killed).
    private func channelEnded(_ reason: String, malformed: Bool, pid: pid_t) {
        guard engine == pid else { return }
        if malformed {
            logger.error("ending engine pid \(pid): \(reason)")
            kill(pid, SIGKILL)
        }
    }

    private func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { return }
            guard pid == engine else { continue }
            engine = nil
            server?.close()
            server = nil
            killTimer?.cancel()
            killTimer = nil
            let how = Self.describe(status)
            if stopping {
                logger.notice("the engine stopped (\(how))")
                return loop.stop()
            }
            let ran = Date().timeIntervalSince(engineStarted)
            // The first engine failing at once (a port in use, a certificate
            // that does not load) is a start that failed: say so with its status.
            if starts == 1, ran < 10, status & 0x7F == 0, (status >> 8) & 0xFF != 0 {
                logger.error("the engine could not start (\(how)); stopping")
                exitStatus = (status >> 8) & 0xFF
                return loop.stop()
            }
            if ran >= Self.healthyRun { restartPause = Self.restartPauses.lowerBound }
            logger.error("the engine exited after \(Int(ran)) s (\(how)); starting it again in \(restartPause) s")
            removeEngineSockets()
            scheduleRestart()
        }
    }

    private func scheduleRestart() {
        let pause = restartPause
        restartPause = min(restartPause * 2, Self.restartPauses.upperBound)
        restartTimer = loop.schedule(after: pause) { [weak self] in self?.startEngine() }
    }

    private func stop(_ signal: Int32, _ name: String) {
        let again = stopping
        stopping = true
        restartTimer?.cancel()
        restartTimer = nil
        guard let engine else {
            logger.notice("\(name): stopping")
            return loop.stop()
        }
        logger.notice("\(name)\(again ? " again" : ""): passed to the engine (pid \(engine))")
        kill(engine, signal)
        // An engine that does not end within its drain bound and a margin is killed.
        if killTimer == nil {
            killTimer = loop.schedule(after: Double(configuration.drainTimeout) + 15) { [weak self, logger] in
                logger.error("the engine did not stop in time; killing it")
                kill(engine, SIGKILL)
                self?.killTimer = nil
            }
        }
    }

    private func reload() {
        do {
            let next = try Configuration.load(path: configuration.path)
            guard next.realms.keys.sorted() == configuration.realms.keys.sorted() else {
                throw ConfigurationError(path: next.path, problems: ["the set of realms changed: restart kxoverd for that"])
            }
            configuration = next
            applyRealms(next)
            logger.notice("SIGHUP: KDB settings reloaded")
        } catch {
            // Not the engine's "reload rejected" words: the engine says that, with its reason, for the same file.
            logger.error("SIGHUP: the keeper keeps its KDB settings: \(error)")
        }
        if let engine { kill(engine, SIGHUP) }
    }

    /// The engine (no longer root) cannot remove the socket files it made.
    private func removeEngineSockets() {
        for path in [configuration.controlSocket, configuration.hostRealmSocket].compactMap({ $0 }) {
            var info = stat()
            if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
        }
    }

    static func describe(_ status: Int32) -> String {
        let signal = status & 0x7F
        if signal == 0 { return "exit status \((status >> 8) & 0xFF)" }
        return "signal \(signal)\(signal == SIGKILL ? " (SIGKILL)" : signal == SIGSEGV ? " (SIGSEGV)" : signal == SIGABRT ? " (SIGABRT)" : "")"
    }
}
