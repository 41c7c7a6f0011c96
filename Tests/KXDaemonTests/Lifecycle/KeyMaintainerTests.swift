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
    /// Answers each key check with `next`, at once or when released.
    final class ScriptedCheck: KeyMaintenanceStore {
        var next: Result<KeyMaintenanceReport, KXError> = .success(KeyMaintenanceReport())
        var holding = false
        private(set) var calls = 0
        private var waiting: [(Result<KeyMaintenanceReport, KXError>) -> Void] = []

        func maintain(now: KerberosTime, lifetime: Int64, checkInterval: Int64,
                      completion: @escaping (Result<KeyMaintenanceReport, KXError>) -> Void) {
            calls += 1
            if holding { waiting.append(completion) } else { completion(next) }
        }

        func release() {
            holding = false
            let answers = waiting
            waiting = []
            for completion in answers { completion(next) }
        }
    }

    /// Shorter than an exchange's 30 s bound, longer than the 10 s backoff after its failure.
    static let interval: Int64 = 20
    let bench: EngineBench
    let check = ScriptedCheck()
    let metrics = DaemonMetrics()
    let maintainer: KeyMaintainer
    let principal = Principal.crossover(client: EngineBench.local, service: EngineBench.remote)

    init() throws {
        bench = try EngineBench()
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
        #expect(maintainer.totals.pruned == 2 && maintainer.totals.capped == 1 && maintainer.totals.problems == 1)
        #expect(metrics.registry.value("kxover_keys_pruned_total", [("realm", EngineBench.local)]) == 2)
        check.next = .failure(KXError(.keyStoring, "the KDB is locked by process 4242"))
        bench.ports.advance(Double(Self.interval))
        #expect(maintainer.totals.problems == 2 && maintainer.totals.pruned == 2)
    }

    @Test func aFailedRenewalIsRetriedAtTheNextCheck() {
        var report = KeyMaintenanceReport()
        report.renew = [principal]
        check.next = .success(report)
        maintainer.start()
        #expect(maintainer.totals.renewalsStarted == 1 && bench.engine.exchangesInFlight == 1)
        bench.resolver.failAll(.resolver("SERVFAIL"))
        #expect(maintainer.totals.renewalsFailed == 1 && bench.engine.exchangesInFlight == 0)
        #expect(metrics.registry.value("kxover_renewals_total", [("outcome", "failure")]) == 1)
        // The next check finds the key still due and starts a new exchange (the failure's backoff is over).
        bench.ports.advance(Double(Self.interval))
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
        bench.ports.advance(Double(Self.interval))
        #expect(check.calls == 2)
        #expect(bench.engine.exchangesInFlight == 1 && bench.engine.counters.joined == 1)
        #expect(bench.resolver.pending.count == 1, "one exchange asked DNS once")
        bench.resolver.failAll(.resolver("SERVFAIL"))
        #expect(bench.engine.counters.clientFailed == 1, "one exchange ran")
        #expect(maintainer.totals.renewalsFailed == 2, "both checks hear its outcome")
    }
}
