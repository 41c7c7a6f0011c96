import Foundation
import KXEventLoop
import TLSPoolHarness
import Testing
@testable import TLSPool

/// A pool stopping with work in hand, and new certificates under running sessions.
extension TLSPoolSerialTests {
@Suite("TLS Pool shutdown and reload")
struct PoolLifecycleTests {
    /// One session relaying, one stalled in its handshake (the peer sends no
    /// ClientHello): shutdown ends both and every pool thread, well before
    /// its bound (it returns at the bound only with threads still alive),
    /// and every descriptor goes.
    @Test func shutdownEndsAStalledHandshakeAndARelayingSession() throws {
        _ = try TestCertificates.get()   // made once per run (child processes): before the count
        let baseline = DescriptorAudit.openCount()
        try {
            let pair = try PoolPair()
            defer { pair.shutdown() }
            let relaying = try pair.handshake()
            let clientPlaintext = try #require(try relaying.client.get().plaintextFD)
            let tcp = try loopbackTCPPair()
            defer { close(tcp.client) }
            var stalledResult: Result<TLSPoolSession, TLSPoolError>?
            let stalled = StartTLS(client: pair.harness.serverSide, tcpSocket: tcp.server, parameters: .kxoverServer(),
                                   localIDHandler: { proposed, _ in .accept(localID: proposed) }) { stalledResult = $0 }
            stalled.start()
            #expect(pair.run(until: { pair.serverPool.activeSessionCount == 2 }), "the relay and the stalled handshake both run")
            #expect(pair.serverPool.liveThreadCount == pair.serverPool.configuration.lanes, "its lanes only: no thread per session")

            pair.serverPool.shutdown(timeout: 60)
            #expect(pair.serverPool.liveThreadCount == 0, "returned because every thread ended, not at its bound")
            #expect(pair.serverPool.activeSessionCount == 0 && pair.serverPool.connectionCount == 0)
            #expect(seesEndOfStream(clientPlaintext), "the relayed peer sees the end")
            #expect(pair.run(until: { stalledResult != nil }), "the stalled STARTTLS is answered")
            if case .success? = stalledResult { Issue.record("a handshake without a ClientHello succeeded") }
        }()
        #expect(DescriptorAudit.returnsTo(baseline), "descriptors back to \(baseline), now \(DescriptorAudit.openCount())")
    }

    /// The application closes its plaintext end entirely while the peer
    /// stays silent (a peer that completed TLS and sends nothing): the
    /// session ends at once, not after the relay's grace of 120 s, so silent
    /// peers cannot pile up sessions up to the pool's cap.
    @Test func aSessionEndsWhenTheApplicationClosesItsEnd() throws {
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let session = try pair.handshake()
        let server = try #require(try session.server.get().plaintextFD)
        let client = try #require(try session.client.get().plaintextFD)
        defer { close(client) }
        #expect(pair.serverPool.activeSessionCount == 1)
        close(server)   // kxoverd is done with this peer; the peer says nothing
        #expect(pair.run(until: { pair.serverPool.activeSessionCount == 0 }), "still \(pair.serverPool.activeSessionCount) session(s) 5 s later")
        #expect(seesEndOfStream(client), "the silent peer's side learns the session ended")
    }

    /// Only the writing half closed (shutdown): the application still reads,
    /// so the session stays for the peer's answer.
    @Test func aHalfCloseKeepsTheSessionForThePeersAnswer() throws {
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let session = try pair.handshake()
        let server = try #require(try session.server.get().plaintextFD)
        let client = try #require(try session.client.get().plaintextFD)
        defer { close(client); close(server) }
        shutdown(server, Int32(SHUT_WR))
        #expect(!pair.run(until: { pair.serverPool.activeSessionCount == 0 }, timeout: 0.5), "a half-close does not end the session")
        #expect(write(client, "late", 4) == 4 && readBytes(server, count: 4) == Array("late".utf8), "the peer's answer still arrives")
    }

    /// New credentials serve the handshakes that start afterwards; a reload
    /// that cannot load its files changes nothing; running sessions keep relaying.
    @Test func reloadedIdentitiesServeNewHandshakesOnly() throws {
        let certs = try TestCertificates.get()
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let first = try pair.handshake()
        let a = try #require(try first.client.get().plaintextFD), b = try #require(try first.server.get().plaintextFD)

        let missing = TLSPoolConfiguration.Identity(localID: "kdc.b.test", certificateFile: certs.path("missing.crt"), keyFile: certs.path("kdc-b.key"))
        #expect(throws: (any Error).self) { try pair.serverPool.reloadIdentities([missing]) }
        #expect(throws: Never.self) { try pair.handshake().client.get() }

        // kdc.b.test served with kdc-a's certificate, which names another host.
        try pair.serverPool.reloadIdentities([certs.identity("kdc-a", host: "kdc.b.test")])
        let refused = try pair.handshake()
        guard case .failure(let error) = refused.client else { Issue.record("the client accepted a certificate its TLSA does not name"); return }
        #expect(error.description.contains("the server certificate does not name kdc.b.test"), "\(error)")
        #expect(write(a, "still", 5) == 5 && readBytes(b, count: 5) == Array("still".utf8), "the session from before relays on")

        try pair.serverPool.reloadIdentities([certs.identity("kdc-b", host: "kdc.b.test")])
        #expect(throws: Never.self) { try pair.handshake().client.get() }
    }
}
}
