import Testing
import KXOver

@Suite("max_peer_realms")
struct PeerRealmCapTests {
    let local = "LOCAL.TEST"
    func outgoing(_ peer: String) -> Principal { .crossover(client: local, service: peer) }
    func incoming(_ peer: String) -> Principal { .crossover(client: peer, service: local) }

    @Test func aPeerCountsOnceWhicheverDirection() {
        let existing = [outgoing("A.TEST"), incoming("A.TEST"), incoming("B.TEST")]
        #expect(PeerRealmCap.refusal(creating: outgoing("C.TEST"), local: local, existing: existing, maximum: 3) == nil)
        let refusal = PeerRealmCap.refusal(creating: outgoing("C.TEST"), local: local, existing: existing, maximum: 2)
        #expect(refusal?.contains("max_peer_realms 2 reached: LOCAL.TEST already holds kxover keys with 2 peer realms") == true, "\(refusal ?? "")")
        #expect(refusal?.contains("new peer C.TEST") == true)
    }

    @Test func aPeerAlreadyHeldIsNeverRefused() {
        let existing = [outgoing("A.TEST"), incoming("B.TEST")]
        #expect(PeerRealmCap.refusal(creating: incoming("A.TEST"), local: local, existing: existing, maximum: 2) == nil)
        #expect(PeerRealmCap.refusal(creating: outgoing("B.TEST"), local: local, existing: existing, maximum: 1) == nil)
    }

    @Test func onlyCrossoverPrincipalsOfTheRealmCount() {
        #expect(outgoing("A.TEST").crossoverPeer(local: local) == "A.TEST")
        #expect(incoming("A.TEST").crossoverPeer(local: local) == "A.TEST")
        #expect(Principal.kdc(of: local).crossoverPeer(local: local) == nil)
        #expect(Principal.crossover(client: "X.TEST", service: "Y.TEST").crossoverPeer(local: local) == nil)
        let existing = [Principal.kdc(of: local), .crossover(client: "X.TEST", service: "Y.TEST")]
        #expect(PeerRealmCap.refusal(creating: outgoing("A.TEST"), local: local, existing: existing, maximum: 1) == nil)
    }
}
