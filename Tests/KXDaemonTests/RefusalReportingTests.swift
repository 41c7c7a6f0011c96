import Glibc
import KXEventLoop
import KXOver
import Logging
import Testing
import TLSPool
@testable import KXDaemon

/// How kxoverd reports what a peer refused, and how it counts refusals.
@Suite("refusal reporting")
struct RefusalReportingTests {
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

    @Test func refusalsAreCountedByCode() {
        let metrics = DaemonMetrics()
        metrics.refusal(received: .hostCheck)
        metrics.refusal(received: .hostCheck)
        metrics.refusal(sent: .tls)
        #expect(metrics.registry.value("kxover_refusals_received_total", [("code", "HOSTCHECK")]) == 2)
        #expect(metrics.registry.value("kxover_refusals_sent_total", [("code", "TLS")]) == 1)
        #expect(metrics.registry.render().contains("kxover_refusals_received_total{code=\"HOSTCHECK\"} 2"))
    }

    /// The STARTTLS word, before TLS: over the limits or draining, the
    /// engine names a code and a public reason (never its configured
    /// limits), and counts what it told.
    @Test func startTLSRefusalsTellTheCodeAndAPublicReason() throws {
        let loop = try EventLoop()
        var pair: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[1]) }
        let pool = TLSPoolClient(connection: try TLSPoolConnection(adopting: pair[0]), loop: loop)
        defer { pool.close() }
        let engine = CrossoverEngine(loop: loop, realms: [], resolver: SilentResolver(), pool: pool, logger: Logger(label: "test"))
        engine.metrics = DaemonMetrics()
        engine.admission = ExchangeAdmission(maxInFlight: 256, perMinute: 1)
        let peer = try SocketAddress(parsing: "127.0.0.1:40000")
        #expect(engine.refusal(ofStartTLSFrom: peer) == nil)
        #expect(engine.refusal(ofStartTLSFrom: peer) == KXError(.rateLimited, "too many exchanges; try again later"))
        engine.beginDraining()
        #expect(engine.refusal(ofStartTLSFrom: peer) == KXError(.cancelled, "the service KDC is stopping; try again later"))
        #expect(engine.metrics?.registry.value("kxover_refusals_sent_total", [("code", "RATE_LIMITED")]) == 1)
        #expect(engine.metrics?.registry.value("kxover_refusals_sent_total", [("code", "CANCELLED")]) == 1)
    }
}

private final class SilentResolver: Resolver {
    private final class Query: DNSQuery { func cancel() {} }
    func query(_ name: String, _ type: DNSRecordType, completion: @escaping (Result<DNSAnswer, DNSFailure>) -> Void) -> DNSQuery { Query() }
}
