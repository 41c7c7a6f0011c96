import TLSPoolHarness
import Foundation
import KXEventLoop
import KXOver
import Testing
@testable import TLSPool

/// Handshakes that must not produce a protected session: the side that
/// refuses reports ERROR with a reason, and nothing leaks.
extension TLSPoolSerialTests {
@Suite("TLS Pool refusals")
struct PoolRefusalTests {
    /// Runs `body` with a fresh pool pair and checks that afterwards no
    /// descriptor of the pair (sockets, eventfds, TCP duplicates) is left.
    func withoutLeaks(_ body: () throws -> Void) throws {
        let baseline = DescriptorAudit.openCount()
        try body()
        #expect(DescriptorAudit.returnsTo(baseline), "descriptors back to \(baseline), now \(DescriptorAudit.openCount())")
    }

    func refused(client: StartTLSParameters = .kxoverClient(localID: "kdc.a.test", remoteID: "kdc.b.test"),
                 server: StartTLSParameters = .kxoverServer(),
                 clientIdentities: [TLSPoolConfiguration.Identity]? = nil, serverIdentities: [TLSPoolConfiguration.Identity]? = nil,
                 resolver: [String: TLSALookup] = [:],
                 localIDHandler: StartTLS.LocalIDHandler? = { proposed, _ in .accept(localID: proposed) },
                 refusingSide: KeyPath<LoopbackHandshakes.Outcome, Result<TLSPoolSession, TLSPoolError>> = \.client,
                 reason: String) throws {
        try withoutLeaks {
            let certs = try TestCertificates.get()
            let pair = try PoolPair(client: clientIdentities, server: serverIdentities, resolver: certs.secureResolver(overriding: resolver))
            let outcome = try pair.handshake(client: client, server: server, localIDHandler: localIDHandler)
            if case .failure(let error) = outcome[keyPath: refusingSide] {
                #expect(error.knownCode == .stirredNotShaken, "\(error)")
                #expect(error.message.contains(reason), "\(error.message)")
            } else {
                Issue.record("expected a refusal containing \"\(reason)\"")
            }
            if case .success(let session) = outcome.client { session.close() }
            if case .success(let session) = outcome.server { session.close() }
            pair.shutdown()
            #expect(pair.clientPool.activeSessionCount == 0 && pair.serverPool.activeSessionCount == 0)
            #expect(pair.clientPool.liveThreadCount == 0 && pair.serverPool.liveThreadCount == 0, "no pool thread left")
        }
    }

    @Test func tlsaMismatch() throws {
        let certs = try TestCertificates.get()
        try refused(resolver: ["kdc.b.test": .secure([try certs.tlsa("kdc-a")])], reason: "does not match its TLSA")
    }

    @Test func tlsaMissing() throws {
        try refused(resolver: ["kdc.b.test": .secure([])], reason: "no TLSA record for kdc.b.test")
    }

    @Test func tlsaInsecure() throws {
        try refused(resolver: ["kdc.b.test": .insecure], reason: "not DNSSEC-signed")
    }

    @Test func tlsaBogus() throws {
        try refused(resolver: ["kdc.b.test": .bogus("signature expired")], reason: "bogus: signature expired")
    }

    @Test func tlsaLookupFailed() throws {
        try refused(resolver: ["kdc.b.test": .failed("SERVFAIL")], reason: "lookup for kdc.b.test failed: SERVFAIL")
    }

    @Test func pkixUsagesAreNotEnough() throws {
        let certs = try TestCertificates.get()
        var pkix = try certs.tlsa("kdc-b")
        pkix.usage = 1
        try refused(resolver: ["kdc.b.test": .secure([pkix])], reason: "only PKIX usages")
    }

    @Test func clientCertificateFailsDANEAtTheServer() throws {
        let certs = try TestCertificates.get()
        try refused(resolver: ["kdc.a.test": .secure([try certs.tlsa("kdc-b")])], refusingSide: \.server, reason: "does not match its TLSA")
    }

    @Test func expiredServerCertificate() throws {
        let certs = try TestCertificates.get()
        try refused(client: .kxoverClient(localID: "kdc.a.test", remoteID: "kdc.x.test"),
                    serverIdentities: [certs.identity("kdc-expired", host: "kdc.x.test")], reason: "expired at")
    }

    @Test func expiredClientCertificate() throws {
        let certs = try TestCertificates.get()
        try refused(client: .kxoverClient(localID: "kdc.x.test", remoteID: "kdc.b.test"),
                    clientIdentities: [certs.identity("kdc-expired", host: "kdc.x.test")], refusingSide: \.server, reason: "expired at")
    }

    @Test func anExpiredChainSeenBeforeIsRefusedAgain() throws {
        let certs = try TestCertificates.get()
        try withoutLeaks {
            let pair = try PoolPair(server: [certs.identity("kdc-expired", host: "kdc.x.test")])
            defer { pair.shutdown() }
            for round in 1...2 {
                let outcome = try pair.handshake(client: .kxoverClient(localID: "kdc.a.test", remoteID: "kdc.x.test"))
                guard case .failure(let error) = outcome.client else { Issue.record("round \(round): expected a refusal"); return }
                #expect(error.message.contains("expired at"), "round \(round): \(error.message)")
                if case .success(let session) = outcome.server { session.close() }
            }
            #expect(pair.clientPool.chainFacts.count == 1, "the second round read the chain from memory")
        }
    }

    @Test func declinedLocalIdentity() throws {
        try refused(localIDHandler: { _, _ in .decline(code: TLSPoolErrorCode.stirredNotShaken.rawValue, message: "not served here") },
                    refusingSide: \.server, reason: "local identity declined: not served here")
    }

    @Test func sniWithoutCredentials() throws {
        try refused(client: .kxoverClient(localID: "kdc.a.test", remoteID: "kdc.c.test"), refusingSide: \.server,
                    reason: "no credentials for local identity kdc.c.test")
    }

    @Test func sniDifferentFromThePresetLocalIdentity() throws {
        try refused(server: .kxoverServer(localID: "kdc.other.test", checkLocalID: false), localIDHandler: nil,
                    refusingSide: \.server, reason: "SNI kdc.b.test does not match local identity kdc.other.test")
    }

    @Test func clientWithoutCredentials() throws {
        try refused(client: .kxoverClient(localID: "kdc.unknown.test", remoteID: "kdc.b.test"),
                    reason: "no credentials for local identity kdc.unknown.test")
    }

    @Test func serverCertificateNotNamingTheHost() throws {
        let certs = try TestCertificates.get()
        // kdc.b.test's TLSA pins kdc-a's key, and kdc-a serves kdc.b.test: DANE passes, the name does not.
        try refused(serverIdentities: [certs.identity("kdc-a", host: "kdc.b.test")],
                    resolver: ["kdc.b.test": .secure([try certs.tlsa("kdc-a")])], reason: "does not name kdc.b.test")
    }

    @Test func certificateWithoutTheRealmPrincipalFailsTheINFOCheck() throws {
        let certs = try TestCertificates.get()
        try withoutLeaks {
            let pair = try PoolPair(server: [certs.identity("kdc-plain", host: "kdc.n.test")])
            let outcome = try pair.handshake(client: .kxoverClient(localID: "kdc.a.test", remoteID: "kdc.n.test"))
            let client = try outcome.client.get()
            #expect(try !pair.checkRealm(client, .peer, "N.TEST"))
            #expect(try pair.checkRealm(client, .mine, "A.TEST"))
            client.close()
            try outcome.server.get().close()
            pair.shutdown()
        }
    }
}
}
