@testable import KXKDB
import KXOver
import Logging
import Testing
@testable import KXDaemon

/// The key maintainer's schedule and its renewals, on virtual time: a
/// scripted key check (what it finds in the KDB is KXKDBTests' "key check")
/// and a real engine whose exchanges wait on a held resolver.
@Suite("key maintainer")
struct KeyMaintainerTests {
    /// Answers each key check's first half with `claims` (at once or when
    /// released) and its second half with `next`.
    final class ScriptedCheck: KeyMaintenanceStore {
        var claims: KeyWorkClaims
        var next: Result<KeyMaintenanceReport, KXError> = .success(KeyMaintenanceReport())
        var holding = false
        private(set) var calls = 0
        private(set) var secondHalves: [[Principal]] = []
        private var waiting: [(Result<KeyWorkClaims, KXError>) -> Void] = []

        init(claiming principal: Principal) {
            claims = KeyWorkClaims()
            claims.claimed = [(principal, MaintenanceLease(holder: "kdc.local.test/1", until: KerberosTime(secondsSinceEpoch: 2_000_000_000)!))]
        }

        func claimKeyWork(now: KerberosTime, lifetime: Int64, checkInterval: Int64, holder: String, leaseSeconds: Int64,
                          completion: @escaping (Result<KeyWorkClaims, KXError>) -> Void) {
            calls += 1
            if holding { waiting.append(completion) } else { completion(.success(claims)) }
        }

        func maintain(claimed: [(principal: Principal, lease: MaintenanceLease)], now: KerberosTime, lifetime: Int64,
                      checkInterval: Int64, completion: @escaping (Result<KeyMaintenanceReport, KXError>) -> Void) {
            secondHalves.append(claimed.map(\.principal))
            completion(next)
        }

        func release() {
            holding = false
            let answers = waiting
            waiting = []
            for completion in answers { completion(.success(claims)) }
        }
    }

    /// Shorter than an exchange's 30 s bound, longer than the 10 s backoff after its failure.
    static let interval: Int64 = 20
    let bench: EngineBench
    let check: ScriptedCheck
    let metrics = DaemonMetrics()
    let maintainer: KeyMaintainer
    let principal = Principal.crossover(client: EngineBench.local, service: EngineBench.remote)

    init() throws {
        bench = try EngineBench()
        check = ScriptedCheck(claiming: .crossover(client: EngineBench.local, service: EngineBench.remote))
        maintainer = KeyMaintainer(realms: [.init(name: EngineBench.local, store: check, lifetime: 86_400)], interval: Self.interval,
                                   loop: bench.loop, engine: bench.engine, metrics: metrics, logger: Logger(label: "maintainer-test"),
                                   ports: bench.ports)
    }

    @Test func theCheckRunsAtStartThenEveryIntervalUntilStopped() {
        maintainer.start()
        #expect(check.calls == 1)
        bench.ports.advance(Double(Self.interval) - 1)
        #expect(check.calls == 1)
        bench.ports.advance(1)
        #expect(check.calls == 2 && maintainer.totals.checks == 2)
        maintainer.stop()
        #expect(maintainer.nextCheck == nil)
        bench.ports.advance(Double(Self.interval) * 3)
        #expect(check.calls == 2)
    }

    /// A KDB slower than the interval: the next check is skipped, not stacked.
    @Test func aSlowKDBNeverStacksChecks() {
        check.holding = true
        maintainer.start()
        bench.ports.advance(Double(Self.interval) * 2)
        #expect(check.calls == 1 && maintainer.totals.checks == 1)
        check.release()
        bench.ports.advance(Double(Self.interval))
        #expect(check.calls == 2)
    }

    @Test func whatTheCheckDidIsCounted() {
        var report = KeyMaintenanceReport()
        report.pruned = [(principal, 1), (principal, 2)]
        report.capped = [(principal, 3540)]
        report.problems = ["\(principal): kadmind: operation requires ``modify'' privilege"]
        check.next = .success(report)
        maintainer.start()
        #expect(maintainer.totals.pruned == 0, "nothing is done before the pause after claiming")
        bench.ports.advance(KeyMaintainer.settle)
        #expect(maintainer.totals.pruned == 2 && maintainer.totals.capped == 1 && maintainer.totals.problems == 1)
        #expect(metrics.registry.value("kxover_keys_pruned_total", [("realm", EngineBench.local)]) == 2)
        check.next = .failure(KXError(.keyStoring, "the KDB is locked by process 4242"))
        bench.ports.advance(Double(Self.interval))
        bench.ports.advance(KeyMaintainer.settle)
        #expect(maintainer.totals.problems == 2 && maintainer.totals.pruned == 2)
    }

    @Test func aFailedRenewalIsRetriedAtTheNextCheck() {
        var report = KeyMaintenanceReport()
        report.renew = [principal]
        check.next = .success(report)
        maintainer.start()
        bench.ports.advance(KeyMaintainer.settle)
        #expect(maintainer.totals.renewalsStarted == 1 && bench.engine.exchangesInFlight == 1)
        bench.resolver.failAll(.resolver("SERVFAIL"))
        #expect(maintainer.totals.renewalsFailed == 1 && bench.engine.exchangesInFlight == 0)
        #expect(metrics.registry.value("kxover_renewals_total", [("outcome", "failure")]) == 1)
        // The next check finds the key still due and starts a new exchange (the failure's backoff is over).
        bench.ports.advance(Double(Self.interval))
        bench.ports.advance(KeyMaintainer.settle)
        #expect(maintainer.totals.renewalsStarted == 2 && bench.engine.exchangesInFlight == 1)
        #expect(bench.resolver.pending.count == 1)
    }

    /// A check while the last renewal still runs joins that exchange: one
    /// exchange, not two.
    @Test func aRenewalStillRunningIsJoinedNotStacked() {
        var report = KeyMaintenanceReport()
        report.renew = [principal]
        check.next = .success(report)
        maintainer.start()
        bench.ports.advance(KeyMaintainer.settle)
        bench.ports.advance(Double(Self.interval))
        bench.ports.advance(KeyMaintainer.settle)
        #expect(check.calls == 2)
        #expect(bench.engine.exchangesInFlight == 1 && bench.engine.counters.joined == 1)
        #expect(bench.resolver.pending.count == 1, "one exchange asked DNS once")
        bench.resolver.failAll(.resolver("SERVFAIL"))
        #expect(bench.engine.counters.clientFailed == 1, "one exchange ran")
        #expect(maintainer.totals.renewalsFailed == 2, "both checks hear its outcome")
    }

    /// A principal whose lease another kxoverd holds is left to it: no
    /// second half, no renewal, and the next check still runs.
    @Test func aPrincipalLeasedElsewhereIsLeftAlone() {
        check.claims.heldElsewhere = check.claims.claimed.map { ($0.principal, MaintenanceLease(holder: "kdc2.local.test/7", until: $0.lease.until)) }
        check.claims.claimed = []
        var report = KeyMaintenanceReport()
        report.renew = [principal]
        check.next = .success(report)
        maintainer.start()
        bench.ports.advance(KeyMaintainer.settle * 2)
        #expect(check.secondHalves.isEmpty && maintainer.totals.renewalsStarted == 0 && bench.engine.exchangesInFlight == 0)
        bench.ports.advance(Double(Self.interval))
        #expect(check.calls == 2, "a check that claimed nothing does not block the next")
    }

    /// The second half acts on what the first claimed, after the pause.
    @Test func theSecondHalfActsOnTheClaimedPrincipalsAfterThePause() {
        maintainer.start()
        bench.ports.advance(KeyMaintainer.settle - 0.5)
        #expect(check.secondHalves.isEmpty)
        bench.ports.advance(0.5)
        #expect(check.secondHalves == [[principal]])
    }

    /// Stopped during the pause: the second half never runs, and a check
    /// after a new start is not mistaken for one still running.
    @Test func stoppingDuringThePauseDropsTheSecondHalf() {
        maintainer.start()
        maintainer.stop()
        bench.ports.advance(KeyMaintainer.settle * 2)
        #expect(check.secondHalves.isEmpty)
        maintainer.start()
        #expect(check.calls == 2)
        bench.ports.advance(KeyMaintainer.settle)
        #expect(check.secondHalves.count == 1)
    }
}
