import KXOver
import Testing

@Suite("key lifecycle: pruning, renewal and ticket lifetime caps")
struct KeyLifecycleTests {
    let now = KerberosTime(secondsSinceEpoch: 1_800_000_000)!
    let lifetime: Int64 = 14 * 86_400
    let interval: Int64 = 600

    func set(_ principal: Principal, _ versions: [(UInt32, Int64?)]) -> ManagedKeySet {
        ManagedKeySet(principal: principal, versions: versions.map { kvno, tillOffset in
            .init(kvno: kvno, etypes: [18], from: tillOffset.map { now.adding(seconds: $0 - lifetime) },
                  till: tillOffset.map { now.adding(seconds: $0) })
        })
    }

    var clientSide: Principal { .crossover(client: "CLIENT.TEST", service: "SERVICE.TEST") }

    @Test func aFreshKeyIsCappedButNotRenewed() {
        let plan = KeyLifecycle.plan(set(clientSide, [(31290, 10 * 86_400)]), localRealm: "CLIENT.TEST",
                                     now: now, lifetime: lifetime, checkInterval: interval)
        #expect(plan == .init(expired: [], renew: false, ticketLifetimeCap: 10 * 86_400 - interval))
    }

    @Test func renewalStartsWithAQuarterOfTheLifetimeLeft() {
        let lead = KeyLifecycle.renewalLead(lifetime: lifetime, checkInterval: interval)
        #expect(lead == lifetime / 4)
        let due = KeyLifecycle.plan(set(clientSide, [(31290, lead)]), localRealm: "CLIENT.TEST", now: now, lifetime: lifetime, checkInterval: interval)
        let early = KeyLifecycle.plan(set(clientSide, [(31290, lead + 1)]), localRealm: "CLIENT.TEST", now: now, lifetime: lifetime, checkInterval: interval)
        #expect(due.renew && !early.renew)
        // Short lifetimes: never less than two check intervals of warning.
        #expect(KeyLifecycle.renewalLead(lifetime: 30, checkInterval: 2) == 7)
        #expect(KeyLifecycle.renewalLead(lifetime: 30, checkInterval: 10) == 20)
    }

    @Test func theServiceSideNeitherRenewsNorCaps() {
        let plan = KeyLifecycle.plan(set(clientSide, [(31290, 60), (31280, -5)]), localRealm: "SERVICE.TEST",
                                     now: now, lifetime: lifetime, checkInterval: interval)
        #expect(plan == .init(expired: [31280], renew: false, ticketLifetimeCap: nil))
    }

    @Test func expiredKvnosArePrunedAndTheNewestTillCaps() {
        let plan = KeyLifecycle.plan(set(clientSide, [(31291, 5 * 86_400), (31290, 0), (31280, -100)]), localRealm: "CLIENT.TEST",
                                     now: now, lifetime: lifetime, checkInterval: interval)
        #expect(plan.expired == [31280, 31290])   // till == now counts as over
        #expect(plan.ticketLifetimeCap == 5 * 86_400 - interval)
        #expect(!plan.renew)
    }

    @Test func theCapNeverBecomesZeroWhichMITReadsAsUnlimited() {
        let plan = KeyLifecycle.plan(set(clientSide, [(31290, 30)]), localRealm: "CLIENT.TEST", now: now, lifetime: lifetime, checkInterval: interval)
        #expect(plan.ticketLifetimeCap == 1)
        #expect(plan.renew)
    }

    @Test func keysWithoutAValidityRecordAreNotTimed() {
        let plan = KeyLifecycle.plan(set(clientSide, [(31290, nil), (31291, 100)]), localRealm: "CLIENT.TEST",
                                     now: now, lifetime: lifetime, checkInterval: interval)
        #expect(plan == .init(expired: [], renew: false, ticketLifetimeCap: nil))
    }

    @Test func everythingExpiredLeavesNothingToCapOrRenew() {
        let plan = KeyLifecycle.plan(set(clientSide, [(31290, -1)]), localRealm: "CLIENT.TEST", now: now, lifetime: lifetime, checkInterval: interval)
        #expect(plan == .init(expired: [31290], renew: false, ticketLifetimeCap: nil))
    }
}
