import Foundation
import KXEventLoop
import Testing
@testable import TLSPool

/// Certificate refusals told with the right TLS alert, and learnt by the
/// other side through its own pool: in TLS 1.3 the client's handshake is
/// done before the server judges the client certificate, so the client
/// holds a session when the alert arrives, and only a later request on its
/// ctlkey (or the question after its plaintext socket ended) can say why.
extension TLSPoolSerialTests {
@Suite("TLS Pool alerts")
struct PoolAlertTests {
    /// The server refuses the client's certificate; checks what each side learns.
    func serverRefusesTheClient(clientIdentities: [TLSPoolConfiguration.Identity]? = nil,
                                client: StartTLSParameters = .kxoverClient(localID: "kdc.a.test", remoteID: "kdc.b.test"),
                                resolver: [String: TLSALookup] = [:], alert: TLSAlertNote) throws {
        let baseline = DescriptorAudit.openCount()
        try refusal(clientIdentities: clientIdentities, client: client, resolver: resolver, alert: alert)
        #expect(DescriptorAudit.returnsTo(baseline), "descriptors back to \(baseline), now \(DescriptorAudit.openCount())")
    }

    private func refusal(clientIdentities: [TLSPoolConfiguration.Identity]?, client: StartTLSParameters,
                         resolver: [String: TLSALookup], alert: TLSAlertNote) throws {
        let certs = try TestCertificates.get()
        let pair = try PoolPair(client: clientIdentities, resolver: certs.secureResolver(overriding: resolver))
        let outcome = try pair.handshake(client: client)
        // The refusing side's application hears which alert its pool sent.
        guard case .failure(let serverError) = outcome.server else { Issue.record("the server accepted"); return }
        #expect(serverError.alertToPeer == TLSAlertNote(.sent, code: alert.code, name: alert.name), "\(serverError)")
        #expect(serverError.message.hasPrefix("sent TLS alert \(alert.code) (\(alert.name)): "))
        // The client's handshake was done: its relay ends on the alert.
        let session = try outcome.client.get()
        let plaintext = try #require(session.plaintextFD)
        #expect(seesEndOfStream(plaintext))
        let exportError = pair.exportError(session, context: nil)
        #expect(exportError?.knownCode == .ctlkeyNotFound)
        #expect(exportError?.message == "session ended: \(alert)")
        #expect(exportError?.alertFromPeer == alert)
        #expect(throws: TLSPoolError.self) { try pair.checkRealm(session, .peer, "B.TEST") }
        var why: TLSPoolError??
        session.askWhyEnded { why = .some($0) }
        #expect(pair.run(until: { why != nil }))
        #expect(why??.alertFromPeer == alert && why??.knownCode == .ctlkeyNotFound)
        session.close()
        pair.shutdown()
        #expect(pair.clientPool.liveThreadCount == 0 && pair.serverPool.liveThreadCount == 0)
    }

    @Test func clientCertificateNotMatchingItsTLSAIsUnknownCA() throws {
        let certs = try TestCertificates.get()
        try serverRefusesTheClient(resolver: ["kdc.a.test": .secure([try certs.tlsa("kdc-b")])],
                                   alert: TLSAlertNote(.received, code: 48, name: "unknown_ca"))
    }

    @Test func clientWithoutTLSAIsUnknownCA() throws {
        try serverRefusesTheClient(resolver: ["kdc.a.test": .insecure], alert: TLSAlertNote(.received, code: 48, name: "unknown_ca"))
    }

    @Test func expiredClientCertificateIsCertificateExpired() throws {
        let certs = try TestCertificates.get()
        try serverRefusesTheClient(clientIdentities: [certs.identity("kdc-expired", host: "kdc.x.test")],
                                   client: .kxoverClient(localID: "kdc.x.test", remoteID: "kdc.b.test"),
                                   alert: TLSAlertNote(.received, code: 45, name: "certificate_expired"))
    }

    @Test func aFailedTLSALookupIsOurTroubleNotThePeers() throws {
        try serverRefusesTheClient(resolver: ["kdc.a.test": .failed("SERVFAIL")],
                                   alert: TLSAlertNote(.received, code: 80, name: "internal_error"))
    }

    /// The other direction: the client refuses the server certificate (it
    /// names another host) with bad_certificate; the server's session, done
    /// on its side, ends on the alert, and the server learns it.
    @Test func serverLearnsThatTheClientRefusedItsCertificate() throws {
        let certs = try TestCertificates.get()
        let pair = try PoolPair(server: [certs.identity("kdc-a", host: "kdc.b.test")],
                                resolver: certs.secureResolver(overriding: ["kdc.b.test": .secure([try certs.tlsa("kdc-a")])]))
        let outcome = try pair.handshake()
        guard case .failure(let clientError) = outcome.client else { Issue.record("the client accepted"); return }
        #expect(clientError.alertToPeer == TLSAlertNote(.sent, code: 42, name: "bad_certificate"))
        let session = try outcome.server.get()
        #expect(seesEndOfStream(try #require(session.plaintextFD)))
        #expect(pair.exportError(session, context: nil)?.alertFromPeer == TLSAlertNote(.received, code: 42, name: "bad_certificate"))
        session.close()
        pair.shutdown()
    }

    /// A session that ends in order leaves no reason: the message stays the
    /// plain CTLKEY_NOT_FOUND one, and the question after EOF finds it alive
    /// while the relay still waits for our side.
    @Test func anOrderlyEndLeavesNoReason() throws {
        let pair = try PoolPair()
        let outcome = try pair.handshake()
        let client = try outcome.client.get(), server = try outcome.server.get()
        server.close()   // close_notify: the client's relay half-closes our plaintext socket
        #expect(seesEndOfStream(try #require(client.plaintextFD)))
        var why: TLSPoolError??
        client.askWhyEnded { why = .some($0) }
        #expect(pair.run(until: { why != nil }))
        #expect(why! == nil)
        client.close()
        #expect(pair.run(until: { pair.clientPool.activeSessionCount == 0 }))
        let error = pair.exportError(client, context: nil)
        #expect(error?.knownCode == .ctlkeyNotFound && error?.message == "no live session with that ctlkey on this connection")
        pair.shutdown()
    }
}
}
