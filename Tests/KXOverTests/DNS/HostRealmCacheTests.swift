import KXOver
import Testing

/// Hosts' realms remembered for the hostrealm module: realms for their TTL,
/// every "no" for a short one, each kind under its own capacity (virtual time).
@Suite("host realm cache")
struct HostRealmCacheTests {
    @Test func realmsAndRefusalsLiveTheirOwnTime() {
        var cache = HostRealmCache(policy: .init(realmTTL: 60, refusalTTL: 10))
        cache.record("svc.example.org", .realm("EXAMPLE.ORG"), now: 100)
        cache.record("slow.insecure.test", .no("_kerberos.slow.insecure.test TXT: no answer within 5 s"), now: 100)
        #expect(cache.answer(for: "svc.example.org", now: 159.9) == .realm("EXAMPLE.ORG"))
        #expect(cache.answer(for: "svc.example.org", now: 160) == nil)
        #expect(cache.answer(for: "slow.insecure.test", now: 109.9) == .no("_kerberos.slow.insecure.test TXT: no answer within 5 s"))
        #expect(cache.answer(for: "slow.insecure.test", now: 110) == nil)
        #expect(cache.answer(for: "never.example.org", now: 100) == nil)
    }

    @Test func namesAreCaseAndRootDotBlind() {
        var cache = HostRealmCache()
        cache.record("Svc.Example.ORG.", .realm("EXAMPLE.ORG"), now: 0)
        #expect(cache.answer(for: "svc.example.org", now: 1) == .realm("EXAMPLE.ORG"))
        #expect(cache.answer(for: "SVC.EXAMPLE.ORG.", now: 1) == .realm("EXAMPLE.ORG"))
        #expect(cache.count == 1)
    }

    @Test func aNewAnswerReplacesTheOldOfTheOtherKind() {
        var cache = HostRealmCache(policy: .init(realmTTL: 60, refusalTTL: 10))
        cache.record("svc.example.org", .no("insecure"), now: 0)
        cache.record("svc.example.org", .realm("EXAMPLE.ORG"), now: 1)
        #expect(cache.answer(for: "svc.example.org", now: 2) == .realm("EXAMPLE.ORG"))
        cache.record("svc.example.org", .no("bogus"), now: 3)
        #expect(cache.answer(for: "svc.example.org", now: 4) == .no("bogus"))
        #expect(cache.realmCount == 0 && cache.refusalCount == 1)
    }

    /// Random names (all "no") churn only the refusals: a realm users rely on stays.
    @Test func aFloodOfRefusalsNeverPushesOutARealm() {
        var cache = HostRealmCache(policy: .init(realmTTL: 60, refusalTTL: 10, capacity: 4))
        cache.record("svc.example.org", .realm("EXAMPLE.ORG"), now: 0)
        for n in 0..<100 {
            cache.record("r\(n).insecure.test", .no("insecure"), now: Double(n) / 100)
            #expect(cache.refusalCount <= 4)
        }
        #expect(cache.answer(for: "svc.example.org", now: 1) == .realm("EXAMPLE.ORG"))
        // The newest refusals are kept, the soonest to expire went first.
        #expect(cache.answer(for: "r99.insecure.test", now: 1) == .no("insecure"))
        #expect(cache.answer(for: "r0.insecure.test", now: 1) == nil)
        // Realms have the same bound.
        for n in 0..<10 { cache.record("h\(n).example.org", .realm("EXAMPLE.ORG"), now: 2) }
        #expect(cache.realmCount == 4)
    }

    @Test func aZeroTTLKeepsNothingAndTTLsAreBounded() {
        var off = HostRealmCache(policy: .init(realmTTL: 0, refusalTTL: 0))
        off.record("svc.example.org", .realm("EXAMPLE.ORG"), now: 0)
        off.record("x.example.org", .no("bogus"), now: 0)
        #expect(off.count == 0 && off.answer(for: "svc.example.org", now: 0) == nil)
        let long = HostRealmCache.Policy(realmTTL: 1e9, refusalTTL: 1e9, capacity: -3)
        #expect(long.realmTTL == HostRealmCache.Policy.maximumTTL)
        #expect(long.refusalTTL == HostRealmCache.Policy.maximumRefusalTTL && long.capacity == 1)
    }
}
