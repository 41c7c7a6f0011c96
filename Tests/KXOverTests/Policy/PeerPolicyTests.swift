import KXOver
import Testing

/// The administrator's say over which realms cross, in which direction.
@Suite("peer policy")
struct PeerPolicyTests {
    func pattern(_ text: String) -> RealmPattern { RealmPattern(text)! }

    @Test func theDefaultCrossesWithEveryRealmBothWays() {
        for direction in PeerPolicy.Direction.allCases {
            let decision = PeerPolicy.open.decide(peer: "ANY.EXAMPLE", direction: direction)
            #expect(decision.allowed && decision.rule == .everyRealm)
        }
    }

    @Test func patternsNameARealmOrTheRealmsBelowAZone() {
        #expect(pattern("EXAMPLE.ORG").matches("EXAMPLE.ORG"))
        #expect(!pattern("EXAMPLE.ORG").matches("A.EXAMPLE.ORG"))
        #expect(pattern("*.EXAMPLE.ORG").matches("A.EXAMPLE.ORG"))
        #expect(pattern("*.EXAMPLE.ORG").matches("B.A.EXAMPLE.ORG"))
        #expect(!pattern("*.EXAMPLE.ORG").matches("EXAMPLE.ORG"), "the zone itself is not below itself")
        #expect(!pattern("*.EXAMPLE.ORG").matches("BADEXAMPLE.ORG"), "a label boundary, not a string suffix")
        #expect(pattern("*.TEST").matches("SERVICE.TEST"))
        #expect(pattern("*").matches("X.Y"))
    }

    @Test func patternsIgnoreCaseAsDNSZonesDo() {
        #expect(pattern("*.example.org").matches("A.EXAMPLE.ORG"))
        #expect(pattern("Example.Org").description == "EXAMPLE.ORG")
        #expect(pattern("EXAMPLE.ORG").matches("example.org"))
    }

    @Test func malformedPatternsAreRejected() {
        for text in ["", "**", "*.", "A..B", "-A.B", "*EXAMPLE.ORG", "A.*.ORG", "EXAMPLE.ORG.*", "A B.C", "a_b.c"] {
            #expect(RealmPattern(text) == nil, "\(text)")
        }
    }

    @Test func denyWinsOverAllow() {
        let policy = PeerPolicy(allowed: [pattern("*.PARTNER.ORG")], denied: [pattern("BAD.PARTNER.ORG")])
        let bad = policy.decide(peer: "BAD.PARTNER.ORG", direction: .outgoing)
        #expect(!bad.allowed && bad.rule == .denied && bad.ruleText == "peers_denied BAD.PARTNER.ORG")
        let good = policy.decide(peer: "GOOD.PARTNER.ORG", direction: .incoming)
        #expect(good.allowed && good.rule == .allowed && good.ruleText == "peers_allowed *.PARTNER.ORG")
    }

    @Test func anAllowListRefusesEveryRealmItDoesNotName() {
        let policy = PeerPolicy(allowed: [pattern("A.ORG"), pattern("*.B.ORG")])
        let other = policy.decide(peer: "C.ORG", direction: .incoming)
        #expect(!other.allowed && other.rule == .notAllowed)
        #expect(other.ruleText.contains("A.ORG *.B.ORG"))
        #expect(policy.decide(peer: "X.B.ORG", direction: .outgoing).allowed)
    }

    @Test func aDirectionSwitchedOffRefusesEvenAnAllowedRealm() {
        let policy = PeerPolicy(allowed: [pattern("A.ORG")], incoming: false)
        let decision = policy.decide(peer: "A.ORG", direction: .incoming)
        #expect(!decision.allowed && decision.rule == .directionOff && decision.ruleText == "incoming = false")
        #expect(policy.decide(peer: "A.ORG", direction: .outgoing).allowed)
        let noOut = PeerPolicy(outgoing: false)
        #expect(!noOut.decide(peer: "A.ORG", direction: .outgoing).allowed)
        #expect(noOut.decide(peer: "A.ORG", direction: .incoming).allowed)
    }

    @Test func reciprocityIsOffByDefaultAndFollowsTheOutgoingPolicy() {
        #expect(!PeerPolicy.open.reciprocates("A.ORG"))
        let policy = PeerPolicy(denied: [pattern("B.ORG")], reciprocal: true)
        #expect(policy.reciprocates("A.ORG"))
        #expect(!policy.reciprocates("B.ORG"), "a denied peer is never crossed to")
        #expect(!PeerPolicy(outgoing: false, reciprocal: true).reciprocates("A.ORG"))
    }

    @Test func aRefusalIsAPolicyErrorNamingTheRealmsAndTheRule() {
        let policy = PeerPolicy(denied: [pattern("*.EVIL.TEST")])
        let error = policy.refusal(peer: "A1.EVIL.TEST", local: "SERVICE.TEST", direction: .incoming)
        #expect(error?.code == .policy)
        #expect(error?.detail == "SERVICE.TEST accepts no crossover from A1.EVIL.TEST: peers_denied *.EVIL.TEST")
        #expect(policy.refusal(peer: "CLIENT.TEST", local: "SERVICE.TEST", direction: .incoming) == nil)
    }
}
