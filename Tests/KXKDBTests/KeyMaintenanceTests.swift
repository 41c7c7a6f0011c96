import Foundation
import KXKDB
import KXOver
import Testing

extension KadminSessionTests {
/// The periodic key check against a real KDB, locally and over kadmind:
/// expired kvnos go, tickets are capped at the newest key's till, a key near
/// its till is named for renewal, and a right kadmind withholds is reported
/// without changing anything. (Nested: one kadm5 test at a time.)
@Suite("key check")
struct KeyMaintenanceTests {
    let now = KerberosTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!
    static let lifetime: Int64 = 86_400
    static let interval: Int64 = 60

    init() { signal(SIGPIPE, SIG_IGN) }

    /// kvno 1 ended ten seconds ago; kvno 2 lasts another hour.
    func writeOneExpiredOneLive(_ realms: TestRealms) throws {
        let session = try KadminSession(realms.configuration(realms.client))
        for (kvno, till) in [(UInt32(1), now.adding(seconds: -10)), (2, now.adding(seconds: 3600))] {
            let (material, layout) = testKeys(seed: UInt8(kvno))
            _ = try session.write(CrossoverKeyWrite(principal: realms.crossoverPrincipal, kvno: kvno, material: material, layout: layout,
                                                    from: now.adding(seconds: -7200), till: till))
        }
    }

    func check(_ session: KadminSession) throws -> KeyMaintenanceReport {
        try session.maintainKeys(now: now, lifetime: Self.lifetime, checkInterval: Self.interval)
    }

    @Test(arguments: [Kadm5Mode.local, .remote])
    func expiredKvnosArePrunedAndTicketsCappedAtTheNewestTill(mode: Kadm5Mode) throws {
        let realms = try TestRealms(kadmind: mode == .remote)
        try writeOneExpiredOneLive(realms)
        let session = try KadminSession(realms.configuration(realms.client, mode: mode))
        let principal = realms.crossoverPrincipal
        let report = try check(session)
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(report.pruned.map(\.kvno) == [1] && report.pruned.map(\.principal) == [principal])
        guard case .managed(let set) = try session.entry(principal) else { Issue.record("not managed"); return }
        #expect(set.versions.map(\.kvno) == [2])
        // No ticket issued before the next check may outlive kvno 2.
        let cap = KeyLifecycle.ticketLifetimeCap(till: now.adding(seconds: 3600), now: now, checkInterval: Self.interval)
        #expect(report.capped.map(\.seconds) == [cap])
        #expect(try session.ticketLifetimes(principal).life == cap)
        #expect(report.renew == [principal], "an hour left of a day's lifetime: renew")
        // The same check again finds nothing to do.
        let again = try check(session)
        #expect(again.pruned.isEmpty && again.capped.isEmpty && again.problems.isEmpty)
        #expect(try session.ticketLifetimes(principal).life == cap)
    }

    @Test(arguments: [Kadm5Mode.local, .remote])
    func aPrincipalWhoseEveryKvnoEndedIsRemoved(mode: Kadm5Mode) throws {
        let realms = try TestRealms(kadmind: mode == .remote)
        let (material, layout) = testKeys(seed: 9)
        _ = try KadminSession(realms.configuration(realms.client)).write(
            CrossoverKeyWrite(principal: realms.crossoverPrincipal, kvno: 4, material: material, layout: layout,
                              from: now.adding(seconds: -7200), till: now.adding(seconds: -1)))
        let session = try KadminSession(realms.configuration(realms.client, mode: mode))
        let report = try check(session)
        #expect(report.pruned.map(\.kvno) == [4] && report.problems.isEmpty, "\(report.problems)")
        #expect(report.capped.isEmpty && report.renew.isEmpty)
        #expect(try session.entry(realms.crossoverPrincipal) == .absent)
    }

    /// kadmind grants everything but modify: pruning (purgekeys) and the cap
    /// are refused; the check says so per principal and the KDB stays as it was.
    @Test func aRightKadmindWithholdsIsReportedAndChangesNothing() throws {
        let realms = try TestRealms(kadmind: true)
        try writeOneExpiredOneLive(realms)
        try realms.setAdminRights(realms.client, ["adis krbtgt/*@*", "l"])
        let before = try KadminSessionTests.AtomicStoreTests.snapshot(realms, realms.client, realms.crossoverPrincipal)
        let report = try check(try KadminSession(realms.configuration(realms.client, mode: .remote)))
        #expect(report.pruned.isEmpty && report.capped.isEmpty)
        #expect(report.problems.count == 1, "\(report.problems)")
        #expect(report.problems.first?.hasPrefix("\(realms.crossoverPrincipal): ") == true, "\(report.problems)")
        #expect(try KadminSessionTests.AtomicStoreTests.snapshot(realms, realms.client, realms.crossoverPrincipal) == before)
    }
}
}
