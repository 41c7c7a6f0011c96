import Glibc
import KXEventLoop
import KXOver
import Logging
import Testing
import TLSPool
@testable import KXDaemon

/// How kxoverd counts refusals and what it tells a peer before TLS (how a
/// pool error becomes a peer's refusal: TLSPoolTests' TLSPoolErrorTests).
@Suite("refusal reporting")
struct RefusalReportingTests {
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
