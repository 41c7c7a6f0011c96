import Testing
@testable import KXOver

/// What the keeper lets an engine do, whatever the engine says: a
/// compromised engine may ask for anything, and only crossover principals of
/// the keeper's own realms, within policy and rate, get through.
@Suite("keeper rules")
struct KeeperRulesTests {
    let local = "LOCAL.TEST"
    let now = KerberosTime(secondsSinceEpoch: 1_800_000_000)!

    func principal(_ components: [String], _ realm: String) -> Principal {
        Principal(realm: realm, name: PrincipalName(nameType: NameType.serviceInstance, components: components))
    }

    func store(_ principal: Principal, kvno: UInt32 = 31_280, from: Int64 = 0, life: Int64 = 14 * 86_400) throws -> KeeperRequest {
        let layout = try KeySchedule.Layout(consecutive: [18])
        let start = now.adding(seconds: from)
        return .store(realm: local, write: CrossoverKeyWrite(principal: principal, kvno: kvno, material: KeyMaterial(count: 32),
                                                             layout: layout, from: start, till: start.adding(seconds: life)))
    }

    var rules: KeeperRules { KeeperRules(localRealms: [local, "OTHER.TEST"], storesPerMinute: 5) }

    @Test func crossoverPrincipalsOfALocalRealmPass() throws {
        var rules = rules
        for allowed in [principal(["krbtgt", "PEER.TEST"], local), principal(["krbtgt", local], "PEER.TEST")] {
            #expect(rules.refusal(of: .inspect(realm: local, database: .primary, principal: allowed), now: now) == nil)
            #expect(rules.refusal(of: try store(allowed), now: now) == nil)
        }
    }

    @Test(arguments: [
        (["krbtgt", "LOCAL.TEST"], "LOCAL.TEST", "own ticket-granting principal"),
        (["K", "M"], "LOCAL.TEST", "not a krbtgt/REALM principal"),
        (["alice"], "LOCAL.TEST", "not a krbtgt/REALM principal"),
        (["kadmin", "admin"], "LOCAL.TEST", "not a krbtgt/REALM principal"),
        (["krbtgt", "PEER.TEST", "extra"], "LOCAL.TEST", "not a krbtgt/REALM principal"),
        (["krbtgt", "PEER.TEST"], "OTHER.TEST", "neither"),
        (["krbtgt", "peer.test"], "LOCAL.TEST", "not a well-formed realm"),
        (["krbtgt", "PEER"], "LOCAL.TEST", "not a well-formed realm"),
    ])
    func everyOtherPrincipalIsRefused(components: [String], realm: String, reason: String) throws {
        var rules = rules
        let refusal = rules.refusal(of: try store(principal(components, realm)), now: now)
        #expect(refusal?.contains(reason) == true, "\(components)@\(realm): \(refusal ?? "allowed")")
        #expect(rules.refusal(of: .inspect(realm: local, database: .primary, principal: principal(components, realm)), now: now) != nil)
        #expect(rules.refusal(of: .maintain(realm: local, claimed: [(principal(components, realm), MaintenanceLease(holder: "h/1", until: now))]),
                              now: now) != nil)
    }

    @Test func aRealmTheKeeperDoesNotHoldIsRefused() throws {
        var rules = rules
        #expect(rules.refusal(of: .claimKeyWork(realm: "ELSEWHERE.TEST", holder: "h/1"), now: now)?.contains("not one of this keeper's realms") == true)
    }

    @Test func kvnoAndValidityStayWithinPolicy() throws {
        var rules = rules
        let p = principal(["krbtgt", "PEER.TEST"], local)
        #expect(rules.refusal(of: try store(p, kvno: 1), now: now)?.contains("kvno 1") == true)
        #expect(rules.refusal(of: try store(p, kvno: 40_000), now: now)?.contains("kvno 40000") == true)
        #expect(rules.refusal(of: try store(p, life: 0), now: now) != nil)
        #expect(rules.refusal(of: try store(p, life: 400 * 86_400), now: now)?.contains("days") == true)
        #expect(rules.refusal(of: try store(p, from: -30 * 86_400), now: now)?.contains("in the past") == true)
    }

    @Test func storesAreBoundedPerRealmAndMinute() throws {
        var rules = rules
        let p = principal(["krbtgt", "PEER.TEST"], local)
        for _ in 0..<5 { #expect(rules.refusal(of: try store(p), now: now) == nil) }
        #expect(rules.refusal(of: try store(p), now: now)?.contains("more than 5 key stores") == true)
        // Reads are not stores; a minute later the budget is back.
        #expect(rules.refusal(of: .inspect(realm: local, database: .primary, principal: p), now: now) == nil)
        #expect(rules.refusal(of: try store(p), now: now.adding(seconds: 60)) == nil)
    }

    @Test func aLeaseHolderIsOnePrintableWord() {
        var rules = rules
        #expect(rules.refusal(of: .claimKeyWork(realm: local, holder: "kdc1.local.test/4242"), now: now) == nil)
        for bad in ["", "two words", "tab\there", String(repeating: "x", count: 201)] {
            #expect(rules.refusal(of: .claimKeyWork(realm: local, holder: bad), now: now) != nil, "\(bad)")
        }
    }
}
