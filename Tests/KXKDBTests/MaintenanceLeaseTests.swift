import Foundation
import KXKDB
import KXOver
import Testing

extension KadminSessionTests {
/// Two kxoverds sharing one KDB (here two sessions on one realm's KDB, as
/// two processes beside two KDCs would hold them) run the key check at the
/// same time: a lease on each principal makes one of them prune, cap and
/// renew it, whoever wrote the lease last. (Nested: kadm5's process-wide
/// state allows one test at a time.)
@Suite("key check leases")
struct MaintenanceLeaseTests {
    let now = KerberosTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!
    let lifetime: Int64 = 14 * 86_400
    let interval: Int64 = 600
    let leaseSeconds: Int64 = 60

    /// The client side's principal with an expired kvno 7 and a live kvno 8.
    func principalWithAnExpiredKvno(_ realms: TestRealms, _ session: KadminSession) throws -> Principal {
        let principal = realms.crossoverPrincipal
        for (seed, kvno, till) in [(UInt8(1), UInt32(7), now.adding(seconds: -10)), (2, 8, now.adding(seconds: lifetime))] {
            let (material, layout) = testKeys(seed: seed)
            #expect(try session.write(CrossoverKeyWrite(principal: principal, kvno: kvno, material: material, layout: layout,
                                                        from: now.adding(seconds: -20 * 86_400), till: till)) == .written)
        }
        return principal
    }

    @Test func aRunningLeaseKeepsTheOtherKxoverdOff() throws {
        let realms = try TestRealms()
        let a = try KadminSession(realms.configuration(realms.client))
        let b = try KadminSession(realms.configuration(realms.client))
        let principal = try principalWithAnExpiredKvno(realms, a)

        let claimsA = try a.claimKeyWork(now: now, lifetime: lifetime, checkInterval: interval, holder: "kdc1/1", leaseSeconds: leaseSeconds)
        let claimsB = try b.claimKeyWork(now: now, lifetime: lifetime, checkInterval: interval, holder: "kdc2/2", leaseSeconds: leaseSeconds)
        #expect(claimsA.claimed.map(\.principal) == [principal])
        #expect(claimsB.claimed.isEmpty)
        #expect(claimsB.heldElsewhere.map(\.lease) == [MaintenanceLease(holder: "kdc1/1", until: now.adding(seconds: leaseSeconds))])
        #expect(try b.lease(principal)?.holder == "kdc1/1")

        let reportA = try a.maintainKeys(claimed: claimsA.claimed, now: now, lifetime: lifetime, checkInterval: interval)
        let reportB = try b.maintainKeys(claimed: claimsB.claimed, now: now, lifetime: lifetime, checkInterval: interval)
        #expect(reportA.pruned.map(\.kvno) == [7] && reportA.capped.count == 1 && reportA.problems.isEmpty, "\(reportA.problems)")
        #expect(reportB.pruned.isEmpty && reportB.capped.isEmpty && reportB.problems.isEmpty)
        #expect(try a.managedKeySets().first?.versions.map(\.kvno) == [8])

        // Once the lease has run out, the other kxoverd may take the work over.
        let later = now.adding(seconds: leaseSeconds + 1)
        let takeover = try b.claimKeyWork(now: later, lifetime: lifetime, checkInterval: interval, holder: "kdc2/2", leaseSeconds: leaseSeconds)
        #expect(takeover.claimed.map(\.principal) == [principal], "the cap changes with time: there is work again")
    }

    /// Both read the principal before either wrote its lease (the KDB has no
    /// compare-and-set): the one whose lease was written last acts, the other
    /// sees it in the second half and leaves the principal alone.
    @Test func afterARaceOnlyTheLastWriterActs() throws {
        let realms = try TestRealms()
        let a = try KadminSession(realms.configuration(realms.client))
        let b = try KadminSession(realms.configuration(realms.client))
        let principal = try principalWithAnExpiredKvno(realms, a)

        let claimsA = try a.claimKeyWork(now: now, lifetime: lifetime, checkInterval: interval, holder: "kdc1/1", leaseSeconds: leaseSeconds)
        // b read no running lease: as if its read came before a's write.
        let raced = now.adding(seconds: leaseSeconds + 1)
        let claimsB = try b.claimKeyWork(now: raced, lifetime: lifetime, checkInterval: interval, holder: "kdc2/2", leaseSeconds: leaseSeconds)
        #expect(claimsA.claimed.map(\.principal) == [principal] && claimsB.claimed.map(\.principal) == [principal])

        let reportA = try a.maintainKeys(claimed: claimsA.claimed, now: now, lifetime: lifetime, checkInterval: interval)
        let reportB = try b.maintainKeys(claimed: claimsB.claimed, now: raced, lifetime: lifetime, checkInterval: interval)
        #expect(reportA.lost.map(\.lease?.holder) == ["kdc2/2"])
        #expect(reportA.pruned.isEmpty && reportA.capped.isEmpty && reportA.renew.isEmpty)
        #expect(reportB.pruned.map(\.kvno) == [7] && reportB.problems.isEmpty, "\(reportB.problems)")
        #expect(try a.managedKeySets().first?.versions.map(\.kvno) == [8])
    }

    /// A validity record without its key may be another kxoverd's store between
    /// its two steps: the leftover sweep keeps it while it is recent.
    @Test func aRecentValidityRecordWithoutItsKeyIsLeftToTheStoreInProgress() throws {
        let realms = try TestRealms()
        let session = try KadminSession(realms.configuration(realms.client))
        let principal = try principalWithAnExpiredKvno(realms, session)
        let started = now.adding(seconds: -5)
        #expect(try realms.kadminLocal(realms.client, "setstr \(principal) kxover-validity-9 \"\(started) \(now.adding(seconds: lifetime))\"").ok)
        #expect(try session.removeLeftovers(now: now, grace: 300).isEmpty)
        let late = try session.removeLeftovers(now: now.adding(seconds: 400), grace: 300)
        #expect(late.count == 1 && late[0].contains("kvno 9"), "\(late)")
    }
}
}
