import Foundation
import KXEventLoop
import KXOver
import Testing
@testable import TLSPool

/// Two pools completing real mutual TLS 1.3 handshakes with DANE on
/// loopback TCP, then exporters, INFO checks and the relay.
extension TLSPoolSerialTests {
@Suite("TLS Pool handshakes over loopback")
struct PoolHandshakeTests {
    @Test func mutualHandshakeWithDANEBothWays() throws {
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let outcome = try pair.handshake()
        let client = try outcome.client.get(), server = try outcome.server.get()
        #expect(outcome.serverTranscript == [.unprotected, .identityAndFeatures, .introduced, .handshake, .localIdentityCheck,
                                             .handshake, .reconnect, .handshake, .protected])
        #expect(outcome.clientTranscript == [.unprotected, .identityAndFeatures, .introduced, .handshake, .reconnect, .handshake, .protected])
        // Validated identities in the final replies (upstream quirk §2.5.1 fixed).
        #expect(client.localID == "kdc.a.test" && client.remoteID == "kdc.b.test")
        #expect(server.localID == "kdc.b.test" && server.remoteID == "kdc.a.test")
        #expect(pair.clientPool.registeredSessionCount == 1 && pair.serverPool.registeredSessionCount == 1)
    }

    /// The client asks for the server host's TLSA as its handshake starts,
    /// once: an answer that comes before the server's chain waits for it, one
    /// that comes after finishes the step (the server side asks when the
    /// client's chain is in); and a late refusal still refuses.
    @Test func theClientsTLSALookupStartsWithTheHandshakeAndIsAskedOnce() throws {
        let certs = try TestCertificates.get()
        for delay in [0.0, 0.3] {
            let slow = SlowTLSAResolver(try certs.secureResolver(), delay: delay)
            let pair = try PoolPair(resolver: slow)
            // The server asks its application for LOCALID on the ClientHello:
            // the client's lookup began before its ClientHello was out.
            let outcome = try pair.handshake(localIDHandler: { proposed, _ in
                slow.note("LOCALID")
                return .accept(localID: proposed)
            })
            #expect((try? outcome.client.get()) != nil && (try? outcome.server.get()) != nil, "delay \(delay)")
            #expect(slow.asked == ["kdc.a.test": 1, "kdc.b.test": 1], "delay \(delay): \(slow.asked)")
            #expect(slow.events == ["TLSA kdc.b.test", "LOCALID", "TLSA kdc.a.test"], "delay \(delay)")
            pair.shutdown()
        }
        let bogus = SlowTLSAResolver(try certs.secureResolver(overriding: ["kdc.b.test": .bogus("signature expired")]), delay: 0.3)
        let pair = try PoolPair(resolver: bogus)
        defer { pair.shutdown() }
        let outcome = try pair.handshake()
        guard case .failure(let error) = outcome.client else { Issue.record("a late bogus TLSA answer was accepted"); return }
        #expect(error.message.contains("bogus: signature expired"), "\(error.message)")
    }

    @Test func exportersAgreeOnBothSides() throws {
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let outcome = try pair.handshake()
        let client = try outcome.client.get(), server = try outcome.server.get()

        let none = try pair.export(client, context: nil)
        #expect(none == (try pair.export(server, context: nil)))
        #expect(none.count == 32 && none != [UInt8](repeating: 0, count: 32))
        // TLS 1.3 (RFC 8446 §7.5): absent and empty context are the same input.
        #expect(none == (try pair.export(client, context: [])))

        let zeros: [UInt8] = [0x30, 0x00, 0x00, 0x04, 0x00, 0x00, 0x01, 0x00]
        let withZeros = try pair.export(client, context: zeros)
        #expect(withZeros == (try pair.export(server, context: zeros)))
        #expect(withZeros != (try pair.export(client, context: Array(zeros.prefix(1)))), "never cut at the first zero byte")

        // 650 bytes: beyond the PRNG record, through PIOC_LOCAL_PRNG_LONG.
        let long = (0..<650).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let viaExtension = try pair.export(client, context: long, length: 64)
        #expect(viaExtension == (try pair.export(server, context: long, length: 64)))
        #expect(viaExtension.count == 64)
        #expect(viaExtension != (try pair.export(client, context: Array(long.dropLast()), length: 64)))

        // The boundary: ctlkey + label + context = 350 bytes still uses PRNG.
        let fitting = [UInt8](repeating: 0xA5, count: 350 - 16 - KeySchedule.exporterLabel.utf8.count)
        #expect((try pair.export(client, context: fitting)) == (try pair.export(server, context: fitting)))
        #expect(try ExporterRequest(ctlkey: client.ctlkey, label: Array(KeySchedule.exporterLabel.utf8), context: fitting, length: 32).usesExtension == false)
        #expect(try ExporterRequest(ctlkey: client.ctlkey, label: Array(KeySchedule.exporterLabel.utf8), context: fitting + [0], length: 32).usesExtension)

        #expect((try pair.export(client, label: "EXPERIMENTAL-OTHER", context: nil)) != none)
        #expect(pair.exportError(client, label: "client finished", context: nil)?.knownCode == .prngUnavailable)
        #expect(pair.exportError(client, label: "NOT-ALLOWED", context: nil)?.knownCode == .prngUnavailable)
        #expect((try pair.export(client, context: nil, length: 350)).count == 350)
        #expect(pair.exportError(client, context: nil, length: 351)?.code == EINVAL)
    }

    @Test func infoChecksTheRealmPrincipalsOfBothCertificates() throws {
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let outcome = try pair.handshake()
        let client = try outcome.client.get(), server = try outcome.server.get()
        #expect(try pair.checkRealm(client, .peer, "B.TEST"))
        #expect(try pair.checkRealm(client, .mine, "A.TEST"))
        #expect(try !pair.checkRealm(client, .peer, "A.TEST"))
        #expect(try !pair.checkRealm(client, .mine, "B.TEST"))
        #expect(try pair.checkRealm(server, .peer, "A.TEST"))
        #expect(try pair.checkRealm(server, .mine, "B.TEST"))
        #expect(try !pair.checkRealm(server, .peer, "EVIL.TEST"))
    }

    @Test func relayCarriesDataBothWaysAndPropagatesHalfClose() throws {
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let outcome = try pair.handshake()
        let client = try outcome.client.get(), server = try outcome.server.get()
        let a = try #require(client.plaintextFD), b = try #require(server.plaintextFD)
        let request = Array("KX-REQ over the relay".utf8)
        #expect(write(a, request, request.count) == request.count)
        #expect(readBytes(b, count: request.count) == request)
        let big = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let writer = Thread { _ = big.withUnsafeBytes { write(b, $0.baseAddress, $0.count) } }
        writer.start()
        #expect(readBytes(a, count: big.count) == big, "larger than one TLS record")
        shutdown(a, Int32(SHUT_WR))
        #expect(seesEndOfStream(b), "client's half-close reaches the server")
        #expect(write(b, "bye", 3) == 3, "the other direction stays open")
        #expect(readBytes(a, count: 3) == Array("bye".utf8))
        shutdown(b, Int32(SHUT_WR))
        #expect(seesEndOfStream(a))
        // Both directions closed: the relays end and the ctlkeys leave the registry.
        #expect(pair.clientPool.waitUntilNoSessions(timeout: 5) && pair.serverPool.waitUntilNoSessions(timeout: 5))
        #expect(pair.clientPool.registeredSessionCount == 0)
        #expect(pair.exportError(client, context: nil)?.knownCode == .ctlkeyNotFound, "PRNG after the relay ended")
    }

    @Test func serverPicksTheCertificateBySNI() throws {
        let certs = try TestCertificates.get()
        let pair = try PoolPair(server: [certs.identity("kdc-b", host: "kdc.b.test"), certs.identity("kdc-c", host: "kdc.c.test", chain: true)])
        defer { pair.shutdown() }
        let outcome = try pair.handshake(client: .kxoverClient(localID: "kdc.a.test", remoteID: "kdc.c.test"))
        let client = try outcome.client.get(), server = try outcome.server.get()
        #expect(server.localID == "kdc.c.test")
        #expect(try pair.checkRealm(client, .peer, "C.TEST"), "DANE-TA (2 0 1) over a CA-issued chain")
        #expect(try pair.checkRealm(server, .mine, "C.TEST") && !pair.checkRealm(server, .mine, "B.TEST"))
    }

    /// The server's LOCALID answer may name another identity than the SNI:
    /// the certificate then follows the answer, though GnuTLS had parsed the
    /// ClientHello before the application was asked (a first pass reads it,
    /// the second session handshakes on the same bytes). Here the client
    /// asked for kdc.b.test and so refuses kdc.c.test's certificate: proof
    /// that the approved identity's credentials were used.
    @Test func theServersCertificateFollowsTheApprovedIdentity() throws {
        let certs = try TestCertificates.get()
        let pair = try PoolPair(server: [certs.identity("kdc-b", host: "kdc.b.test"), certs.identity("kdc-c", host: "kdc.c.test", chain: true)])
        defer { pair.shutdown() }
        let outcome = try pair.handshake(localIDHandler: { proposed, _ in .accept(localID: proposed == "kdc.b.test" ? "kdc.c.test" : proposed) })
        guard case .failure(let error) = outcome.client else {
            Issue.record("the client accepted the wrong certificate")
            return
        }
        #expect(error.message.contains("the server certificate does not name kdc.b.test"), "\(error.message)")
        // The same flow with the proposal approved as it is succeeds.
        let approved = try pair.handshake()
        #expect(try approved.server.get().localID == "kdc.b.test")
    }

    /// Megabytes both ways at once through the relay, with one reader
    /// starting late: the sockets fill up, the relay pauses the other side
    /// and loses nothing.
    @Test func theRelayPausesAFullSideAndLosesNothing() throws {
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let outcome = try pair.handshake()
        let client = try outcome.client.get(), server = try outcome.server.get()
        let a = try #require(client.plaintextFD), b = try #require(server.plaintextFD)
        let size = 4 << 20
        let fromA = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let fromB = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 17 &+ 3) }
        @Sendable func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
                if n <= 0 { return }
                offset += n
            }
        }
        let writers = [Thread { writeAll(a, fromA) }, Thread { writeAll(b, fromB) }]
        writers.forEach { $0.start() }
        let atB = Mutex<[UInt8]>([])
        let lateReader = Thread {
            usleep(300_000)   // let everything on the way fill up first
            let bytes = readBytes(b, count: size, timeout: 30)
            atB.withLock { $0 = bytes }
        }
        lateReader.start()
        let atA = readBytes(a, count: size, timeout: 30)
        #expect(atA.count == size && atA == fromB)
        let deadline = Date().addingTimeInterval(30)
        while atB.withLock({ $0.count }) < size && Date() < deadline { usleep(10_000) }
        #expect(atB.withLock { $0 == fromA })
    }

    @Test func serverWithoutLocalIDCheckStillTakesTheSNI() throws {
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let outcome = try pair.handshake(server: .kxoverServer(checkLocalID: false), localIDHandler: nil)
        #expect(try outcome.server.get().localID == "kdc.b.test")
        #expect(!outcome.serverTranscript.contains(.localIdentityCheck))
    }

    @Test func plaintextAttachedWithTheLocalIDAnswer() throws {
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let outcome = try pair.handshake(localIDHandler: { proposed, _ in .acceptAttachingPlaintext(localID: proposed) })
        let server = try outcome.server.get(), client = try outcome.client.get()
        #expect(!outcome.serverTranscript.contains(.reconnect), "PLAINTEXT_CONNECT skipped")
        let a = try #require(client.plaintextFD), b = try #require(server.plaintextFD)
        #expect(write(a, "x", 1) == 1 && readBytes(b, count: 1) == Array("x".utf8))
    }

    @Test func manyHandshakesThroughTheHarness() throws {
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let durations = try pair.harness.runMutualHandshakes(count: 5, clientID: "kdc.a.test", serverID: "kdc.b.test")
        #expect(durations.count == 5)
        #expect(pair.clientPool.waitUntilNoSessions(timeout: 5) && pair.serverPool.waitUntilNoSessions(timeout: 5))
    }
}
}

/// Answers like `inner`, `delay` seconds later on another thread, and counts
/// the hosts it was asked about.
final class SlowTLSAResolver: TLSAResolver, @unchecked Sendable {
    private let inner: StaticTLSAResolver
    private let delay: Double
    private let counts = Mutex<[String: Int]>([:])
    private let log = Mutex<[String]>([])

    init(_ inner: StaticTLSAResolver, delay: Double) {
        self.inner = inner
        self.delay = delay
    }

    var asked: [String: Int] { counts.withLock { $0 } }
    /// Each question ("TLSA host") and each `note`, in order.
    var events: [String] { log.withLock { $0 } }
    func note(_ event: String) { log.withLock { $0.append(event) } }

    func tlsa(forHost host: String, completion: @escaping @Sendable (TLSALookup) -> Void) {
        counts.withLock { $0[host, default: 0] += 1 }
        note("TLSA \(host)")
        let answer = inner.tlsa(forHost: host)
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { completion(answer) }
    }
}
