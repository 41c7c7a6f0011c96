@testable import KXDaemon
import KXEventLoop
import KXOver
import Testing

/// Which way a TCP client's request goes to krb5kdc (issue 13, item 6): a
/// request that decodes takes UDP first; one that does not goes over TCP,
/// where krb5kdc's refusal is a closed connection rather than silence.
@Suite("KDC front end: backend routing of TCP clients' requests")
struct BackendRoutingTests {
    @Test func onlyARequestThatDecodesTakesUDPFirst() throws {
        let loop = try EventLoop()
        let backend = BackendKDC(address: try SocketAddress(parsing: "127.0.0.1:9"), loop: loop, limits: .init(),
                                 tcpClientPolicy: .udpFirst(maxUDPRequest: 1465), realm: "FRONT.TEST", scratch: ScratchBuffer())
        defer { backend.close() }
        let wellFormed = BackendProbeRequest.asRequest(client: "alice", realm: "FRONT.TEST", nonce: 7,
                                                       till: KerberosTime(secondsSinceEpoch: 2_000_000_000)!)
        let malformed: [UInt8] = [0x6A, 0x0C, 0x30, 0x0A] + [UInt8](repeating: 0xA1, count: 10)
        let udpFirst = backend.relay(wellFormed, from: .tcp) { _ in }
        let tcp = backend.relay(malformed, from: .tcp) { _ in }
        defer { udpFirst.cancel(); tcp.cancel() }
        #expect(udpFirst is BackendUDPFirstExchange)
        #expect(tcp is BackendTCPExchange)
    }
}
