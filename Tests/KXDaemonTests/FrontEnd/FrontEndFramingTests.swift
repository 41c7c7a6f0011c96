import Foundation
import KXDaemon
import KXEventLoop
import KXOver
import KXTestSupport
import Testing

/// What a TCP client can send the public port besides plain Kerberos
/// (spec §3.2–3.4, §8.4): RFC 5021 flag words, STARTTLS, KX messages
/// without TLS, bad lengths, and any split of the bytes.
@Suite("KDC front end: TCP framing, refusals and STARTTLS")
struct FrontEndFramingTests {
    /// Sends `bytes` on a fresh connection; returns what came back before the
    /// front end closed the connection.
    private func exchange(_ harness: FrontEndHarness, _ bytes: [UInt8]) throws -> FrontEndTestSocket {
        let client = try FrontEndTestSocket(tcpTo: harness.address)
        client.send(bytes)
        #expect(harness.drive { client.pump().isClosedByPeer })
        return client
    }

    /// A framed KRB-ERROR 61 naming our realm with our bitmask in e-data,
    /// the whole of what was received, ended by an orderly close.
    private func expectRefusal(_ client: FrontEndTestSocket, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = client.firstFrame.flatMap { try? KRBError(derEncoded: $0) }
        #expect(error?.errorCode == KerberosErrorCode.fieldTooLong, sourceLocation: sourceLocation)
        #expect(error?.realm == "FRONT.TEST", sourceLocation: sourceLocation)
        #expect(error?.eData == [0, 0, 0, 1], sourceLocation: sourceLocation)
        #expect(client.received.count == 4 + (client.firstFrame?.count ?? -4), sourceLocation: sourceLocation)
        #expect(!client.resetByPeer, sourceLocation: sourceLocation)
    }

    @Test func probeIsRefusedWithOurExtensions() throws {
        let harness = try FrontEndHarness()
        expectRefusal(try exchange(harness, TCPFraming.probe))
        #expect(harness.frontEnd.counters.refusals == 1 && harness.frontEnd.counters.tcpRequests == 0)
    }

    @Test func unknownExtensionFlagsAreRefused() throws {
        let harness = try FrontEndHarness()
        for word: [UInt8] in [[0x80, 0, 0, 0x02], [0x80, 0, 0, 0x03], [0xFF, 0xFF, 0xFF, 0xFF]] {
            expectRefusal(try exchange(harness, word))
        }
        #expect(harness.frontEnd.counters.refusals == 3)
    }

    @Test func overLongLengthsAreRefused() throws {
        let harness = try FrontEndHarness()
        for length: UInt32 in [1_048_573, 0x0020_0000, 0x7FFF_FFFF] {
            expectRefusal(try exchange(harness, TCPFraming.bigEndian(length)))
        }
        #expect(harness.frontEnd.counters.refusals == 3)
    }

    /// The refusal must survive a client that keeps sending: closing with
    /// unread input would reset the connection and could destroy it.
    @Test func refusalArrivesIntactWhileTheClientKeepsSending() throws {
        let harness = try FrontEndHarness()
        let client = try FrontEndTestSocket(tcpTo: harness.address)
        client.send(TCPFraming.bigEndian(0x0100_0000) + [UInt8](repeating: 0x41, count: 200_000))
        #expect(harness.drive { client.pump().isClosedByPeer })
        expectRefusal(client)
    }

    @Test func kxRequestWithoutTLSAndKXReplyAreDisconnected() throws {
        let harness = try FrontEndHarness()
        for tag: UInt8 in [0x72, 0x73] {
            let client = try exchange(harness, TCPFraming.frame([tag] + [UInt8](repeating: 0x30, count: 40)))
            #expect(client.received.isEmpty)
        }
        let counters = harness.frontEnd.counters
        #expect(counters.protocolDisconnects == 2 && counters.tcpRequests == 0 && counters.refusals == 0)
    }

    @Test func lengthBelowTheMinimumIsDisconnected() throws {
        let harness = try FrontEndHarness()
        let client = try exchange(harness, [0, 0, 0, 5] + Array("hello".utf8))
        #expect(client.received.isEmpty)
        #expect(harness.frontEnd.counters.protocolDisconnects == 1)
    }

    /// Issue 13, item 6: krb5kdc closes a TCP connection that sends it
    /// something other than a KDC request, without an answer; the front end
    /// used to relay it over UDP and keep the client waiting through every
    /// retry. The UDP waits here are far longer than `drive` lasts.
    @Test func aFrameThatIsNoKDCRequestIsClosedAtOnce() throws {
        var limits = FrontEndHarness.testLimits
        limits.backendUDPWaits = [60]
        let harness = try FrontEndHarness(limits: limits)
        for message in [Array("GET / HTTP/1.1\r\n\r\n".utf8), [0x6B] + [UInt8](repeating: 0, count: 20)] {
            let client = try exchange(harness, TCPFraming.frame(message))
            #expect(client.received.isEmpty && !client.resetByPeer)
        }
        let counters = harness.frontEnd.counters
        #expect(counters.protocolDisconnects == 2 && counters.tcpRequests == 0 && counters.relayErrors == 0)
    }

    /// An AS-REQ that does not decode goes to krb5kdc over TCP, not UDP:
    /// krb5kdc closes at once instead of staying silent, and so do we.
    @Test func aMalformedKDCRequestEndsAsKrb5kdcEndsIt() throws {
        var limits = FrontEndHarness.testLimits
        limits.backendUDPWaits = [60]
        let harness = try FrontEndHarness(limits: limits)
        let client = try exchange(harness, TCPFraming.frame([0x6A, 0x0C, 0x30, 0x0A] + [UInt8](repeating: 0xA1, count: 10)))
        #expect(client.received.isEmpty)
        let counters = harness.frontEnd.counters
        #expect(counters.tcpRequests == 1 && counters.relayErrors == 1 && counters.tcpReplies == 0)
        // A well-formed request is still answered (over UDP first: BackendRoutingTests).
        let next = try FrontEndTestSocket(tcpTo: harness.address)
        next.send(TCPFraming.frame(harness.realm.asRequest()))
        #expect(harness.drive { next.pump().firstFrame != nil })
        #expect(frontEndKRBErrorCode(next.firstFrame) == 25)
    }

    @Test func startTLSIsHandedToTheAcceptorWithPendingBytes() throws {
        let harness = try FrontEndHarness()
        let acceptor = FrontEndFakeAcceptor()
        harness.frontEnd.startTLSAcceptor = acceptor
        let client = try FrontEndTestSocket(tcpTo: harness.address)
        let clientHello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]
        client.send(TCPFraming.startTLSRequest + clientHello)   // eager client: hello before our answer
        #expect(harness.drive { acceptor.handoffs.count == 1 })
        #expect(harness.drive { client.pump().received.count == 4 })
        #expect(client.received == TCPFraming.startTLSAccepted)
        let handoff = try #require(acceptor.handoffs.first)
        #expect(handoff.pendingBytes == clientHello)
        #expect(handoff.peer.port == frontEndTestLocalPort(of: client.fd))
        #expect(handoff.local == harness.address)
        #expect(fcntl(handoff.fd, F_GETFD) & FD_CLOEXEC != 0)
        // The socket is the client's connection, now the acceptor's alone.
        #expect(write(handoff.fd, "server", 6) == 6)
        #expect(harness.drive { client.pump().received.count == 10 })
        #expect(harness.frontEnd.openTCPConnections == 0 && harness.frontEnd.counters.startTLSHandoffs == 1)
        close(handoff.fd)
        #expect(harness.drive { client.pump().isClosedByPeer })
    }

    @Test func startTLSAfterOrdinaryRequestsOnOneConnection() throws {
        let harness = try FrontEndHarness()
        let acceptor = FrontEndFakeAcceptor()
        harness.frontEnd.startTLSAcceptor = acceptor
        let client = try FrontEndTestSocket(tcpTo: harness.address)
        // Two requests in one write, then STARTTLS once both are answered.
        client.send(TCPFraming.frame(harness.realm.asRequest()) + TCPFraming.frame(harness.realm.asRequest()))
        var frames: [[UInt8]] = []
        #expect(harness.drive {
            client.pump()
            frames = frontEndFrames(client.received)
            return frames.count == 2
        })
        #expect(frames.allSatisfy { frontEndKRBErrorCode($0) == 25 })
        client.send(TCPFraming.startTLSRequest)
        #expect(harness.drive { acceptor.handoffs.count == 1 })
        #expect(acceptor.handoffs[0].pendingBytes.isEmpty)
        close(acceptor.handoffs[0].fd)
        #expect(harness.frontEnd.counters.tcpRequests == 2 && harness.frontEnd.counters.tcpReplies == 2)
    }

    @Test func startTLSWithoutAnAcceptorIsRefused() throws {
        let harness = try FrontEndHarness()
        expectRefusal(try exchange(harness, TCPFraming.startTLSRequest))
        #expect(harness.frontEnd.counters.startTLSHandoffs == 0)
    }

    /// An acceptor that refuses (limits, draining) is answered at the
    /// STARTTLS word with a framed KRB-ERROR 60 carrying its code, in place
    /// of 00 00 00 00, and the connection ends without a reset.
    @Test func startTLSRefusedByTheAcceptorTellsTheCode() throws {
        let harness = try FrontEndHarness()
        let acceptor = FrontEndFakeAcceptor()
        acceptor.refusal = KXError(.rateLimited, "too many exchanges; try again later")
        harness.frontEnd.startTLSAcceptor = acceptor
        let client = try exchange(harness, TCPFraming.startTLSRequest)
        let error = try #require(client.firstFrame.flatMap { try? KRBError(derEncoded: $0) })
        #expect(error.errorCode == KerberosErrorCode.generic && error.realm == "FRONT.TEST")
        #expect(error.eText == "RATE_LIMITED: too many exchanges; try again later")
        #expect(client.received.count == 4 + (client.firstFrame?.count ?? -4) && !client.resetByPeer)
        #expect(acceptor.asked.count == 1 && acceptor.handoffs.isEmpty)
        #expect(harness.frontEnd.counters.startTLSHandoffs == 0 && harness.frontEnd.counters.refusals == 1)
    }

    @Test func requestSentOneByteAtATimeIsRelayed() throws {
        let harness = try FrontEndHarness()
        let client = try FrontEndTestSocket(tcpTo: harness.address)
        for byte in TCPFraming.frame(harness.realm.asRequest()) {
            client.send([byte])
            harness.idle(0.001)
        }
        #expect(harness.drive { client.pump().firstFrame != nil })
        #expect(frontEndKRBErrorCode(client.firstFrame) == 25)
    }

    @Test func silentConnectionIsClosedAfterTheIdleTimeout() throws {
        var limits = FrontEndHarness.testLimits
        limits.idleTimeout = 0.3
        let harness = try FrontEndHarness(limits: limits)
        let silent = try FrontEndTestSocket(tcpTo: harness.address)
        let partial = try FrontEndTestSocket(tcpTo: harness.address)
        partial.send([0, 0, 1])   // a slow client does not push the deadline back
        let started = Date()
        #expect(harness.drive { silent.pump().isClosedByPeer && partial.pump().isClosedByPeer })
        #expect(Date().timeIntervalSince(started) >= 0.25)
        #expect(harness.frontEnd.counters.protocolDisconnects == 2)
    }

    /// Arbitrary bytes from peers never crash the front end, and it keeps
    /// serving afterwards.
    @Test func arbitraryBytesFromPeersAreSurvived() throws {
        let harness = try FrontEndHarness()
        var generator = FrontEndSeededGenerator(seed: 0x6B78_6F76)
        var clients: [FrontEndTestSocket] = []
        for round in 0..<100 {
            let length = Int.random(in: 0...64, using: &generator)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if round % 3 == 0 && bytes.count >= 4 { bytes[0] = 0 }   // plausible lengths too
            let client = try FrontEndTestSocket(tcpTo: harness.address)
            client.send(bytes)
            if round % 2 == 0 { client.shutdownSending() }
            clients.append(client)
            let udp = try FrontEndTestSocket(udpTo: harness.address)
            udp.send(bytes)
        }
        harness.idle(0.5)
        clients.removeAll()
        let check = try FrontEndTestSocket(tcpTo: harness.address)
        check.send(TCPFraming.frame(harness.realm.asRequest()))
        #expect(harness.drive { check.pump().firstFrame != nil })
        #expect(frontEndKRBErrorCode(check.firstFrame) == 25)
    }
}

final class FrontEndFakeAcceptor: StartTLSAcceptor {
    private(set) var handoffs: [StartTLSHandoff] = []
    /// What it answers at the STARTTLS word; nil accepts.
    var refusal: KXError?
    private(set) var asked: [SocketAddress] = []
    func refusal(ofStartTLSFrom peer: SocketAddress) -> KXError? {
        asked.append(peer)
        return refusal
    }
    func acceptStartTLS(_ handoff: StartTLSHandoff) { handoffs.append(handoff) }
}

/// Complete frames in `bytes`, without their lengths.
func frontEndFrames(_ bytes: [UInt8]) -> [[UInt8]] {
    var frames: [[UInt8]] = []
    var offset = 0
    while bytes.count - offset >= 4 {
        let length = Int(bytes[offset..<(offset + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } & 0x7FFF_FFFF)
        guard bytes.count - offset - 4 >= length else { break }
        frames.append(Array(bytes[(offset + 4)..<(offset + 4 + length)]))
        offset += 4 + length
    }
    return frames
}

func frontEndTestLocalPort(of fd: Int32) -> UInt16 { frontEndSocketPort(of: fd, peer: false) ?? 0 }

/// The shared SplitMix64 generator (KXTestSupport).
typealias FrontEndSeededGenerator = SeededRandom
