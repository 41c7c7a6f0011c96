import KXOver
import Testing
import TLSPool

/// How an exchange reports what a peer refused through the pool.
@Suite("pool errors as crossover errors")
struct TLSPoolErrorTests {
    @Test func aPeersAlertNamedByOurPoolIsThatPeersRefusal() {
        let ended = TLSPoolError(.ctlkeyNotFound, "session ended: received TLS alert 45 (certificate_expired)")
        let error = ended.kxError(peer: "kdc.b.test")
        #expect(error == KXError(.tls, "alert certificate_expired (45): our certificate was not accepted", refusedBy: "kdc.b.test"))
        #expect(error.description == "refused by kdc.b.test: TLS: alert certificate_expired (45): our certificate was not accepted")
        let handshake = TLSPoolError(.stirredNotShaken, "received TLS alert 112 (unrecognized_name): TLS handshake failed")
        #expect(handshake.kxError(peer: "kdc.b.test") == KXError(.tls, "alert unrecognized_name (112)", refusedBy: "kdc.b.test"))
    }

    @Test func otherPoolErrorsStayOurOwnFailures() {
        let plain = TLSPoolError(.ctlkeyNotFound, "no live session with that ctlkey on this connection")
        #expect(plain.kxError(peer: "kdc.b.test") == plain.kxError && plain.kxError.refusedBy == nil)
        // An alert we sent is our refusal of the peer, not the peer's of us.
        let ours = TLSPoolError(.stirredNotShaken, "sent TLS alert 48 (unknown_ca): DANE: no match")
        #expect(ours.kxError(peer: "kdc.b.test").refusedBy == nil && ours.alertToPeer?.code == 48)
    }
}
