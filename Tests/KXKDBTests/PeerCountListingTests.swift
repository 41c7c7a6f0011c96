import Foundation
import Testing
@testable import KXKDB
import KXOver

/// max_peer_realms against a real KDB without a listing per new peer: a
/// burst far below the cap lists the KDB's names once, near the cap every
/// new peer lists and the cap is exact, and another writer's peers count
/// from the next listing on.
@Suite("max_peer_realms listings", .serialized)
struct PeerCountListingTests {
    let now = KerberosTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!

    func store(_ session: KadminSession, _ realms: TestRealms, peer: String) throws -> KeyWriteOutcome {
        let (material, layout) = testKeys(seed: UInt8(truncatingIfNeeded: peer.hashValue))
        return try session.write(CrossoverKeyWrite(principal: .crossover(client: realms.client, service: peer), kvno: 31_280,
                                                   material: material, layout: layout, from: now, till: now.adding(seconds: 86_400)))
    }

    func session(_ realms: TestRealms, cap: Int, clock: @escaping () -> Double) throws -> KadminSession {
        var configuration = realms.configuration(realms.client)
        configuration.maxPeerRealms = cap
        let session = try KadminSession(configuration)
        session.monotonicSeconds = clock
        return session
    }

    @Test func aBurstFarBelowTheCapListsOnceAndNearTheCapEveryPeerLists() throws {
        let realms = try TestRealms()
        let a = try session(realms, cap: 12, clock: { 100 })
        for n in 1...11 { #expect(try store(a, realms, peer: "P\(n).TEST") == .written) }
        #expect(a.nameListings == 1, "0 listed + 11 created stays within 12 - 1")
        #expect(try store(a, realms, peer: "P12.TEST") == .written)
        #expect(a.nameListings == 2, "the twelfth peer is past the margin: listed")
        #expect(throws: (any Error).self, "a thirteenth peer under max_peer_realms = 12") { try store(a, realms, peer: "P13.TEST") }
        #expect(a.nameListings == 3)
        #expect(try realms.kadminLocal(realms.client, "getprinc krbtgt/P13.TEST@\(realms.client)").ok == false)
    }

    @Test func anotherWritersPeersCountFromTheNextListing() throws {
        let realms = try TestRealms()
        var clock = 100.0
        let a = try session(realms, cap: 6, clock: { clock })
        let b = try session(realms, cap: 6, clock: { clock })
        #expect(try store(a, realms, peer: "A1.TEST") == .written)
        for n in 1...4 { #expect(try store(b, realms, peer: "B\(n).TEST") == .written) }
        // A's listing is older than its lifetime: A lists, sees 5 peers, makes the sixth, refuses a seventh.
        clock += PeerCountBound.lifetime
        #expect(try store(a, realms, peer: "A2.TEST") == .written)
        #expect(throws: (any Error).self, "a seventh peer under max_peer_realms = 6") { try store(a, realms, peer: "A3.TEST") }
        #expect(a.nameListings == 3)
    }
}
