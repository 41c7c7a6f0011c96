import Foundation
import KXEventLoop
import KXKDB
import KXOver
import Logging

/// Where the key check runs: a realm's KDB (its kadm5 worker), or a test's script.
public protocol KeyMaintenanceStore: AnyObject {
    func maintain(now: KerberosTime, lifetime: Int64, checkInterval: Int64,
                  completion: @escaping (Result<KeyMaintenanceReport, KXError>) -> Void)
}

extension KadmKeyStore: KeyMaintenanceStore {}

/// The periodic key check (spec §7.5), at start and every `interval`: per
/// local realm, expired kvnos are pruned (policy kxover only), ticket
/// lifetimes are capped at the newest key's till, and client-side keys near
/// their till are renewed by a fresh exchange through the engine.
public final class KeyMaintainer {
    public struct Realm {
        public let name: String
        public let store: any KeyMaintenanceStore
        public let lifetime: Int64
    }

    public struct Totals: Sendable {
        public var checks = 0
        public var pruned = 0
        public var capped = 0
        public var renewalsStarted = 0
        public var renewalsSucceeded = 0
        public var renewalsFailed = 0
        public var problems = 0
    }

    public private(set) var totals = Totals()
    public private(set) var nextCheck: Date?
    private var realms: [Realm]
    private var interval: Int64
    private let ports: any Clock & Timers
    private let engine: CrossoverEngine
    private let metrics: DaemonMetrics?
    private let logger: Logger
    private var timer: Cancellable?
    private var running = 0

    /// `ports`: the loop's clock and timers unless a test brings virtual ones.
    public init(realms: [Realm], interval: Int64, loop: EventLoop, engine: CrossoverEngine, metrics: DaemonMetrics?, logger: Logger,
                ports: (any Clock & Timers)? = nil) {
        self.realms = realms
        self.interval = interval
        self.ports = ports ?? LoopPorts(loop: loop)
        self.engine = engine
        self.metrics = metrics
        self.logger = logger
    }

    /// Checks now (startup pruning), then every interval.
    public func start() {
        checkAll()
    }

    public func stop() {
        timer?.cancel()
        timer = nil
        nextCheck = nil
    }

    public func reconfigure(realms: [Realm], interval: Int64) {
        self.realms = realms
        self.interval = interval
        if timer != nil { schedule() }
    }

    private func schedule() {
        timer?.cancel()
        nextCheck = Date(timeIntervalSince1970: Double(ports.now.secondsSinceEpoch + interval))
        timer = ports.schedule(after: Double(interval)) { [weak self] in self?.checkAll() }
    }

    private func checkAll() {
        schedule()
        guard running == 0 else { return }   // a slow KDB: never stack checks
        totals.checks += 1
        let now = ports.now
        for realm in realms {
            running += 1
            realm.store.maintain(now: now, lifetime: realm.lifetime, checkInterval: interval) { [weak self] result in
                guard let self else { return }
                self.running -= 1
                self.handle(result, realm: realm.name)
            }
        }
    }

    private func handle(_ result: Result<KeyMaintenanceReport, KXError>, realm: String) {
        let report: KeyMaintenanceReport
        switch result {
        case .failure(let error):
            totals.problems += 1
            return logger.warning("key check of \(realm) failed: \(error)")
        case .success(let done):
            report = done
        }
        for leftover in report.leftovers {
            logger.notice("\(realm): removed \(leftover)")
        }
        for (principal, kvno) in report.pruned {
            logger.notice("\(realm): pruned expired kvno \(kvno) of \(principal)")
        }
        if !report.pruned.isEmpty { metrics?.pruned(realm: realm, count: report.pruned.count) }
        totals.pruned += report.pruned.count
        for (principal, seconds) in report.capped {
            logger.info("\(realm): tickets under \(principal) now last at most \(seconds) s (the newest key's till)")
        }
        totals.capped += report.capped.count
        for problem in report.problems { logger.warning("key check of \(realm): \(problem)") }
        totals.problems += report.problems.count
        for principal in report.renew {
            guard let remote = principal.name.krbtgtRealm else { continue }
            totals.renewalsStarted += 1
            metrics?.renewal("started")
            logger.notice("\(realm): renewing \(principal) before its till")
            engine.crossover(from: realm, to: remote) { [weak self] outcome in
                guard let self else { return }
                switch outcome {
                case .success(let success):
                    self.totals.renewalsSucceeded += 1
                    self.metrics?.renewal("success")
                    self.logger.notice("\(realm): renewed \(principal): kvno \(success.kvno) until \(success.till)")
                case .failure(let error):
                    self.totals.renewalsFailed += 1
                    self.metrics?.renewal("failure")
                    self.logger.warning("\(realm): renewal of \(principal) failed: \(error); the next check retries")
                }
            }
        }
    }
}
