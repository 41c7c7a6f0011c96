import Testing
import KXOver

/// max_peer_realms without a KDB listing per new peer: trusted only fresh,
/// only well below the cap, and never before a first listing.
@Suite("max_peer_realms count bound")
struct PeerCountBoundTests {
    @Test func nothingIsTrustedBeforeAListing() {
        #expect(!PeerCountBound().admitsWithoutListing(maximum: 1000, now: 5))
    }

    @Test func aFreshListingWellBelowTheCapAdmitsUntilCreationsReachTheMargin() {
        var bound = PeerCountBound()
        bound.listed(peers: 880, at: 100)
        #expect(PeerCountBound.margin(below: 1000) == 100)
        var admitted = 0
        while bound.admitsWithoutListing(maximum: 1000, now: 100.5) {
            bound.creating()
            admitted += 1
        }
        #expect(admitted == 20, "880 listed + 20 created + 1 more would pass 1000 - 100")
        bound.listed(peers: 850, at: 101)   // a revoke elsewhere: the next listing sees fewer
        #expect(bound.admitsWithoutListing(maximum: 1000, now: 101))
    }

    @Test func aListingIsTrustedForItsLifetimeOnly() {
        var bound = PeerCountBound()
        bound.listed(peers: 3, at: 50)
        #expect(bound.admitsWithoutListing(maximum: 1000, now: 50 + PeerCountBound.lifetime - 0.01))
        #expect(!bound.admitsWithoutListing(maximum: 1000, now: 50 + PeerCountBound.lifetime))
        #expect(!bound.admitsWithoutListing(maximum: 1000, now: 49), "a clock that went back trusts nothing")
    }

    @Test func smallCapsKeepAMarginOfOne() {
        #expect(PeerCountBound.margin(below: 1) == 1)
        #expect(PeerCountBound.margin(below: 9) == 1)
        var bound = PeerCountBound()
        bound.listed(peers: 0, at: 0)
        #expect(!bound.admitsWithoutListing(maximum: 1, now: 0), "a cap of one always lists")
        #expect(bound.admitsWithoutListing(maximum: 2, now: 0))
        bound.creating()
        #expect(!bound.admitsWithoutListing(maximum: 2, now: 0))
    }
}
