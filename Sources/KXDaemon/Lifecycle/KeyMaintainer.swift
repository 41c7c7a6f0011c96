import Foundation
import KXEventLoop
import KXKDB
import KXOver
import Logging

/// Where the key check runs: a realm's KDB (its kadm5 worker), or a test's script.
/// The check runs in two halves (see KeyMaintainer): claiming the
/// principals with work under a lease, then acting on those still leased.
public protocol KeyMaintenanceStore: AnyObject {
    func claimKeyWork(now: KerberosTime, lifetime: Int64, checkInterval: Int64, holder: String, leaseSeconds: Int64,
                      completion: @escaping (Result<KeyWorkClaims, KXError>) -> Void)
    func maintain(claimed: [(principal: Principal, lease: MaintenanceLease)], now: KerberosTime, lifetime: Int64,
                  checkInterval: Int64, completion: @escaping (Result<KeyMaintenanceReport, KXError>) -> Void)
}

extension KadmKeyStore: KeyMaintenanceStore {}

/// The periodic key check (spec §7.5), at start and every `interval`: per
/// local realm, expired kvnos are pruned (policy kxover only), ticket
/// lifetimes are capped at the newest key's till, and client-side keys near
/// their till are renewed by a fresh exchange through the engine.
///
/// Other kxoverds may share the realm's KDB (one beside each KDC of an LDAP
/// realm, or several writing through one kadmind), so a check runs in two
/// halves: the first writes a lease on each principal with work to do
/// (unless another kxoverd's lease runs), the second, `settle` seconds
/// later, acts only where that lease is still this kxoverd's. Each
/// principal's pruning, capping and renewal is then done by one of them.
public final class KeyMaintainer {
    public struct Realm {
        public let name: String
        public let store: any KeyMaintenanceStore
        public let lifetime: Int64
        /// Names this kxoverd in leases: the realm's KDC host and our pid.
        public let holder: String

        public init(name: String, store: any KeyMaintenanceStore, lifetime: Int64, kdcHost: String? = nil) {
            self.name = name
            self.store = store
            self.lifetime = lifetime
            holder = "\(kdcHost ?? ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)"
        }
    }

    /// The pause between claiming and acting: far longer than the moment
    /// between another kxoverd's read and write of a lease.
    public static let settle: Double = 1
    /// A lease outlasts the pause and a renewal exchange (the client's
    /// overall bound); a kxoverd that dies holding one delays the work by that much.
    public static let leaseSeconds: Int64 = Int64(settle) + Int64(CrossoverTimeouts.client.overall) + 30

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
    /// Second halves waiting out the pause, by check half number.
    private var settling: [Int: Cancellable] = [:]
    private var halves = 0
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
        // A second half that will not run no longer counts as running.
        for watch in settling.values { watch.cancel() }
        running -= settling.count
        settling = [:]
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
        let interval = self.interval
        let now = ports.now
        for realm in realms {
            running += 1
            realm.store.claimKeyWork(now: now, lifetime: realm.lifetime, checkInterval: interval, holder: realm.holder,
                                     leaseSeconds: Self.leaseSeconds) { [weak self] result in
                guard let self else { return }
                guard let claimed = self.claimed(result, realm: realm.name), !claimed.isEmpty else {
                    self.running -= 1
                    return
                }
                self.halves += 1
                let half = self.halves
                self.settling[half] = self.ports.schedule(after: Self.settle) { [weak self] in
                    guard let self else { return }
                    self.settling[half] = nil
                    realm.store.maintain(claimed: claimed, now: self.ports.now, lifetime: realm.lifetime, checkInterval: interval) { [weak self] result in
                        guard let self else { return }
                        self.running -= 1
                        self.handle(result, realm: realm.name)
                    }
                }
            }
        }
    }

    /// Logs the first half's outcome; the principals this kxoverd claimed.
    private func claimed(_ result: Result<KeyWorkClaims, KXError>, realm: String) -> [(principal: Principal, lease: MaintenanceLease)]? {
        switch result {
        case .failure(let error):
            totals.problems += 1
            logger.warning("key check of \(realm) failed: \(error)")
            return nil
        case .success(let claims):
            for leftover in claims.leftovers { logger.notice("\(realm): removed \(leftover)") }
            for (principal, lease) in claims.heldElsewhere {
                logger.info("\(realm): key check of \(principal) left to \(lease)")
            }
            for problem in claims.problems { logger.warning("key check of \(realm): \(problem)") }
            totals.problems += claims.problems.count
            return claims.claimed
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
        for (principal, lease) in report.lost {
            logger.info("\(realm): key check of \(principal) left to \(lease.map { "\($0)" } ?? "another kxoverd"), which took its lease over")
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
            engine.crossover(from: realm, to: remote, renewal: true) { [weak self] outcome in
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
