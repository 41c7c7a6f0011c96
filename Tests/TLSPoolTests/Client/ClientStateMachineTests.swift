import TLSPoolHarness
import Foundation
import KXEventLoop
import KXOver
import Testing
import CFDPass
@testable import TLSPool

/// The client (request table + StartTLS state record) against a scripted
/// fake pool on a socketpair (spec §7.3 "Client side").
extension TLSPoolSerialTests {
@Suite("TLS Pool client against a scripted pool")
struct ClientStateMachineTests {
    /// Collects a StartTLS result on the loop.
    final class Outcome {
        var results: [Result<TLSPoolSession, TLSPoolError>] = []
        var session: TLSPoolSession? { if case .success(let s)? = results.first { return s } else { return nil } }
        var error: TLSPoolError? { if case .failure(let e)? = results.first { return e } else { return nil } }
    }

    func startTLS(_ client: TLSPoolClient, _ parameters: StartTLSParameters = .kxoverClient(localID: "kdc.a.test", remoteID: "kdc.b.test"),
                  handler: StartTLS.LocalIDHandler? = nil) throws -> (StartTLS, Outcome, tcp: (Int32, Int32)) {
        let tcp = try loopbackTCPPair()
        let outcome = Outcome()
        let exchange = StartTLS(client: client, tcpSocket: tcp.client, parameters: parameters, localIDHandler: handler) {
            outcome.results.append($0)
        }
        exchange.start()
        return (exchange, outcome, tcp)
    }

    /// PING → answered as the pool would.
    func answerPing(_ pool: ScriptedPool) throws {
        var ping = try pool.receiveRecord()
        #expect(ping.command == .ping && ping.reqid != 0 && ping.cbid == 0)
        #expect(ping.ping.identity == TLSPoolProtocol.identityV2)
        ping.ping.identity = TLSPoolProtocol.identityV2
        ping.ping.facilities = ping.ping.facilities.intersection(.startTLS)
        try pool.send(ping)
    }

    @Test func clientFlowPingStartTLSPlaintextConnectProtected() throws {
        let loop = try EventLoop()
        let (pool, client) = try ScriptedPool.make(loop: loop)
        let (exchange, outcome, tcp) = try startTLS(client)
        defer { close(tcp.1) }
        try answerPing(pool)

        let start = try pool.receive()
        #expect(start.record.command == .startTLS && start.record.cbid == 0)
        #expect(start.record.starttls.flags == .kxoverClient)
        #expect(start.record.starttls.localID == "kdc.a.test" && start.record.starttls.remoteID == "kdc.b.test")
        #expect(start.record.starttls.ipProtocol == 6 && start.record.starttls.service == "kerberos")
        #expect(!start.record.starttls.ctlkey.isZero)
        let cryptfd = try #require(start.passedFD, "STARTTLS carries the TCP socket")
        let tcpInode = DescriptorAudit.inode(of: cryptfd)
        close(cryptfd)
        #expect(DescriptorAudit.isGone(socketInode: tcpInode, within: 0), "StartTLS closed its copy of the TCP socket once sent")

        var callback = start.record
        callback.command = .plaintextConnect
        callback.cbid = 7
        try pool.send(callback)
        let response = try pool.receive()
        #expect(response.record.command == .plaintextConnect && response.record.cbid == 7)
        #expect(response.record.reqid != start.record.reqid, "a callback response is a new request")
        #expect(response.record.data == callback.data, "payload echoed")
        let poolPlain = try #require(response.passedFD)
        defer { close(poolPlain) }

        var final = response.record
        final.command = .startTLS   // stale cbid 7 stays, as upstream does
        final.starttls.remoteID = "kdc.b.test"
        try pool.send(final)
        #expect(loop.run(until: { !outcome.results.isEmpty }, timeout: 2))
        let session = try #require(outcome.session)
        #expect(session.ctlkey == exchange.ctlkey && session.remoteID == "kdc.b.test")
        #expect(exchange.transcript == [.unprotected, .identityAndFeatures, .introduced, .handshake, .reconnect, .handshake, .protected])
        #expect(client.pendingCount == 0)

        // The plaintext socketpair really connects the session with the pool's end.
        let plain = try #require(session.plaintextFD)
        #expect(write(poolPlain, "hi", 2) == 2)
        var buffer = [UInt8](repeating: 0, count: 2)
        #expect(read(plain, &buffer, 2) == 2 && buffer == Array("hi".utf8))
        #expect(client.introduction != nil, "PING happens once per pool connection")
    }

    @Test func serverFlowWithLocalIDAcceptedAndPlaintextAttachedEarly() throws {
        let loop = try EventLoop()
        let (pool, client) = try ScriptedPool.make(loop: loop)
        var asked: [(String, String)] = []
        let (exchange, outcome, tcp) = try startTLS(client, .kxoverServer()) { proposed, remote in
            asked.append((proposed, remote))
            return .acceptAttachingPlaintext(localID: proposed)
        }
        defer { close(tcp.1) }
        try answerPing(pool)
        let start = try pool.receiveRecord()
        #expect(start.starttls.flags.rawValue == 0x0001_0006)
        var callback = start
        callback.command = .startTLSLocalID
        callback.cbid = 3
        callback.starttls.localID = "kdc.b.test"
        try pool.send(callback)
        let response = try pool.receive()
        #expect(asked.count == 1 && asked[0].0 == "kdc.b.test")
        #expect(response.record.command == .startTLSLocalID && response.record.cbid == 3)
        #expect(response.record.starttls.localID == "kdc.b.test")
        let plain = try #require(response.passedFD, "plaintext socket attached to the LOCALID answer")
        close(plain)
        var final = response.record
        final.command = .startTLS
        try pool.send(final)
        #expect(loop.run(until: { !outcome.results.isEmpty }, timeout: 2))
        #expect(outcome.session?.localID == "kdc.b.test")
        #expect(exchange.transcript == [.unprotected, .identityAndFeatures, .introduced, .handshake, .localIdentityCheck, .handshake, .protected])
    }

    @Test func declinedLocalIDEndsInTheErrorThePoolSends() throws {
        let loop = try EventLoop()
        let (pool, client) = try ScriptedPool.make(loop: loop)
        let (exchange, outcome, tcp) = try startTLS(client, .kxoverServer()) { _, _ in
            .decline(code: TLSPoolErrorCode.stirredNotShaken.rawValue, message: "not my realm")
        }
        defer { close(tcp.1) }
        try answerPing(pool)
        var callback = try pool.receiveRecord()
        callback.command = .startTLSLocalID
        callback.cbid = 11
        try pool.send(callback)
        let decline = try pool.receiveRecord()
        #expect(decline.command == .error && decline.cbid == 11)
        #expect(decline.error.code == TLSPoolErrorCode.stirredNotShaken.rawValue && decline.error.message == "not my realm")
        try pool.send(.error(.stirredNotShaken, "local identity declined", reqid: decline.reqid))
        #expect(loop.run(until: { !outcome.results.isEmpty }, timeout: 2))
        #expect(outcome.error?.knownCode == .stirredNotShaken)
        #expect(exchange.stage == .failed)
    }

    enum FailurePoint: String, CaseIterable { case identityAndFeatures, handshake, localIdentityCheck, reconnect }

    @Test(arguments: FailurePoint.allCases)
    func errorAtEveryStateFailsOnceAndClosesDescriptors(at point: FailurePoint) throws {
        let baseline = DescriptorAudit.openCount()
        do {
            let loop = try EventLoop()
            let (pool, client) = try ScriptedPool.make(loop: loop)
            let (exchange, outcome, tcp) = try startTLS(client, .kxoverServer()) { proposed, _ in .accept(localID: proposed) }
            let tcpInode = DescriptorAudit.inode(of: tcp.0)
            var last = try pool.receiveRecord()   // PING
            if point != .identityAndFeatures {
                var ping = last
                ping.ping.facilities = .startTLS
                try pool.send(ping)
                last = try pool.receiveRecord()   // STARTTLS
            }
            if point == .localIdentityCheck || point == .reconnect {
                var callback = last
                callback.command = .startTLSLocalID
                callback.cbid = 5
                try pool.send(callback)
                last = try pool.receiveRecord()   // LOCALID answer
            }
            if point == .reconnect {
                var callback = last
                callback.command = .plaintextConnect
                callback.cbid = 6
                try pool.send(callback)
                last = try pool.receiveRecord()   // PLAINTEXT_CONNECT answer (fd closed by the helper)
            }
            try pool.send(.error(.stirredNotShaken, "failed at \(point.rawValue)", reqid: last.reqid))
            #expect(loop.run(until: { !outcome.results.isEmpty }, timeout: 2))
            #expect(outcome.error == TLSPoolError(.stirredNotShaken, "failed at \(point.rawValue)"))
            #expect(exchange.stage == .failed)
            loop.run(until: { false }, timeout: 0.05)
            #expect(outcome.results.count == 1, "completion exactly once")
            close(tcp.1)
            pool.close()
            client.close()
            #expect(DescriptorAudit.isGone(socketInode: tcpInode))
        }
        #expect(DescriptorAudit.returnsTo(baseline))
    }

    @Test func interleavedRepliesForTwoStartTLS() throws {
        let loop = try EventLoop()
        let (pool, client) = try ScriptedPool.make(loop: loop)
        let a = try startTLS(client, .kxoverClient(localID: "kdc.a.test", remoteID: "one.test"))
        try answerPing(pool)
        let b = try startTLS(client, .kxoverClient(localID: "kdc.a.test", remoteID: "two.test"))
        defer { close(a.tcp.1); close(b.tcp.1) }
        // b may PING too (it started before a's PING answer was processed) or go straight on.
        var starts: [TLSPoolRecord] = []
        while starts.count < 2 {
            let record = try pool.receiveRecord()
            if record.command == .ping { var p = record; p.ping.facilities = .startTLS; try pool.send(p); continue }
            starts.append(record)
        }
        let startA = try #require(starts.first { $0.starttls.remoteID == "one.test" })
        let startB = try #require(starts.first { $0.starttls.remoteID == "two.test" })
        // Callbacks in reverse order, then finals in the other order.
        var cbB = startB; cbB.command = .plaintextConnect; cbB.cbid = 2
        var cbA = startA; cbA.command = .plaintextConnect; cbA.cbid = 1
        try pool.send(cbB)
        try pool.send(cbA)
        let r1 = try pool.receiveRecord(), r2 = try pool.receiveRecord()
        let responseA = try #require([r1, r2].first { $0.cbid == 1 })
        let responseB = try #require([r1, r2].first { $0.cbid == 2 })
        var finalA = responseA; finalA.command = .startTLS
        var finalB = responseB; finalB.command = .startTLS
        try pool.send(finalA)
        try pool.send(finalB)
        #expect(loop.run(until: { !a.1.results.isEmpty && !b.1.results.isEmpty }, timeout: 2))
        #expect(a.1.session?.ctlkey == a.0.ctlkey && a.1.session?.remoteID == "one.test")
        #expect(b.1.session?.ctlkey == b.0.ctlkey && b.1.session?.remoteID == "two.test")
        #expect(a.0.ctlkey != b.0.ctlkey)
    }

    /// A pool that is not reading (busy writing its answers to us) must not
    /// block the loop: requests beyond the socket's buffer wait in order, with
    /// their descriptors, and go out once it reads again.
    @Test func requestsToAPoolThatDoesNotReadQueueInsteadOfBlocking() throws {
        let loop = try EventLoop()
        let (pool, client) = try ScriptedPool.make(loop: loop)
        let count = 3000   // 1.1 MiB of records: several times a socketpair's buffer
        var answered = 0
        let fd = try loopbackTCPPair()
        defer { close(fd.client); close(fd.server) }
        for index in 0..<count {
            var record = TLSPoolRecord(command: .info)
            record.setData([UInt8(index >> 8), UInt8(index & 0xFF)])   // its place in the order
            try client.request(record, passing: index == count - 1 ? fd.client : nil) { _ in answered += 1 }
        }
        // A blocking send would never get here: this thread is the pool's
        // only reader. Every request waits in the client, none answered yet.
        #expect(client.pendingCount >= count && answered == 0)
        // Now the pool reads: every record arrives, in order, the descriptor with the last.
        var order: [Int] = []
        var passed: Int32?
        let deadline = Date(timeIntervalSinceNow: 10)
        while order.count < count && Date() < deadline {
            loop.run(until: { false }, timeout: 0.01)   // the client flushes on POLLOUT and reads answers
            while let received = try? pool.receive(timeout: 0.01) {
                order.append(Int(received.record.data[0]) << 8 | Int(received.record.data[1]))
                if let descriptor = received.passedFD { passed = descriptor }
                var answer = TLSPoolRecord(command: .success, reqid: received.record.reqid)
                answer.setData([])
                try pool.send(answer)
                if order.count % 50 == 0 { break }   // let the client read the answers (each small write costs ~1 KiB of buffer)
            }
        }
        #expect(order == Array(0..<count))
        #expect(passed != nil && order.count == count)
        if let passed { close(passed) }
        #expect(loop.run(until: { answered == count }, timeout: 5))
    }

    @Test func disconnectFailsEveryPendingRequestWithEPIPE() throws {
        let loop = try EventLoop()
        let (pool, client) = try ScriptedPool.make(loop: loop)
        let a = try startTLS(client)
        try answerPing(pool)
        _ = try pool.receiveRecord()
        let b = try startTLS(client)
        defer { close(a.tcp.1); close(b.tcp.1) }
        _ = try pool.receiveRecord()
        var raw: [TLSPoolRecord] = []
        try client.request(TLSPoolRecord(command: .info)) { raw.append($0) }
        var closedWith: TLSPoolError?
        client.onClose = { closedWith = $0 }
        pool.close()
        #expect(loop.run(until: { !a.1.results.isEmpty && !b.1.results.isEmpty && !raw.isEmpty }, timeout: 2))
        let expected = TLSPoolError(code: EPIPE, message: "Disconnected from the TLS Pool")
        #expect(a.1.error == expected && b.1.error == expected)
        #expect(raw.first?.command == .error && raw.first?.error.code == EPIPE)
        #expect(closedWith != nil && client.isClosed && client.pendingCount == 0)
        #expect(throws: TLSPoolError.self) { try client.request(TLSPoolRecord(command: .ping)) { _ in } }
    }

    @Test func orphanCallbackIsRefused() throws {
        let loop = try EventLoop()
        let (pool, _client) = try ScriptedPool.make(loop: loop)
        _ = _client
        var orphan = TLSPoolRecord(command: .plaintextConnect, reqid: 0x4242, cbid: 9)
        orphan.starttls.localID = "x"
        try pool.send(orphan)
        let refusal = try pool.receiveRecord()
        #expect(refusal.command == .error && refusal.cbid == 9)
        #expect(refusal.error.code == TLSPoolErrorCode.clientRefusesCallback.rawValue)
        // A non-callback record for nobody is dropped quietly.
        try pool.send(.error(.commandUnknown, "stray", reqid: 0x5151))
        #expect(try pool.staysQuiet())
    }

    @Test func exchangeTimeoutFailsAndALateCallbackIsRefused() throws {
        let loop = try EventLoop()
        let (pool, client) = try ScriptedPool.make(loop: loop)
        var parameters = StartTLSParameters.kxoverClient(localID: "kdc.a.test", remoteID: "kdc.b.test")
        parameters.exchangeTimeout = 0.2
        let (_, outcome, tcp) = try startTLS(client, parameters)
        defer { close(tcp.1) }
        try answerPing(pool)
        let start = try pool.receiveRecord()
        #expect(loop.run(until: { !outcome.results.isEmpty }, timeout: 2))
        #expect(outcome.error?.code == ETIMEDOUT)
        var late = start
        late.command = .plaintextConnect
        late.cbid = 4
        try pool.send(late)
        let refusal = try pool.receiveRecord()
        #expect(refusal.command == .error && refusal.cbid == 4)
        #expect(refusal.error.code == TLSPoolErrorCode.clientRefusesCallback.rawValue)
    }

    // MARK: - Follow-ups against the scripted pool

    func protectedSession(_ loop: EventLoop) throws -> (ScriptedPool, TLSPoolSession) {
        let (pool, client) = try ScriptedPool.make(loop: loop)
        let (_, outcome, tcp) = try startTLS(client)
        defer { close(tcp.1) }
        try answerPing(pool)
        var callback = try pool.receiveRecord()
        callback.command = .plaintextConnect
        callback.cbid = 1
        try pool.send(callback)
        var final = try pool.receiveRecord()
        final.command = .startTLS
        try pool.send(final)
        #expect(loop.run(until: { !outcome.results.isEmpty }, timeout: 2))
        return (pool, try #require(outcome.session))
    }

    @Test func exportKeyUsesPRNGWithNoContextAsMinusOne() throws {
        let loop = try EventLoop()
        let (pool, session) = try protectedSession(loop)
        var result: Result<KeyMaterial, TLSPoolError>?
        session.exportKey(label: KeySchedule.exporterLabel, context: nil, length: 64) { result = $0 }
        var request = try pool.receiveRecord()
        #expect(request.command == .prng)
        #expect(request.prng.in1Length == 32 && request.prng.in2Length == -1 && request.prng.prngLength == 64)
        #expect(request.prng.ctlkey == session.ctlkey)
        #expect(request.prng.label == Array(KeySchedule.exporterLabel.utf8))
        request.prng.zeroBuffer()
        request.prng.buffer = (0..<64).map { UInt8($0) }
        try pool.send(request)
        #expect(loop.run(until: { result != nil }, timeout: 2))
        let material = try #require(try? result?.get())
        material.withUnsafeBytes { #expect(Array($0) == (0..<64).map { UInt8($0) }) }
        #expect(!"\(material)".contains("0001"))
    }

    @Test func exportKeyKeepsZeroBytesInTheContext() throws {
        let loop = try EventLoop()
        let (pool, session) = try protectedSession(loop)
        let context: [UInt8] = [0x30, 0x00, 0x00, 0x05, 0x00]
        session.exportKey(label: "EXPERIMENTAL-X", context: context, length: 32) { _ in }
        let request = try pool.receiveRecord()
        #expect(request.prng.in2Length == 5 && request.prng.context == context)
    }

    @Test func longContextTravelsInASealedMemfd() throws {
        let loop = try EventLoop()
        let (pool, session) = try protectedSession(loop)
        let context = (0..<650).map { UInt8(truncatingIfNeeded: $0 * 31) }
        var result: Result<KeyMaterial, TLSPoolError>?
        session.exportKey(label: KeySchedule.exporterLabel, context: context, length: 32) { result = $0 }
        let received = try pool.receive()
        #expect(received.record.command == .prngLong)
        #expect(received.record.prng.in2Length == 650 && received.record.prng.in1Length == 32)
        let memfd = try #require(received.passedFD)
        var carried = [UInt8](repeating: 0, count: 700)
        let n = pread(memfd, &carried, 700, 0)
        #expect(n == 650 && Array(carried[0..<650]) == context)
        #expect(kx_fdpass_is_sealed(memfd) == 1, "sealed against changes")
        close(memfd)
        // A foreign pool does not know the extension.
        try pool.send(.error(.commandUnknown, "unknown", reqid: received.record.reqid))
        #expect(loop.run(until: { result != nil }, timeout: 2))
        guard case .failure(let error)? = result else { Issue.record("expected a failure"); return }
        #expect(error.message == "exporter context of 650 bytes exceeds this pool's PRNG record")
    }

    @Test func kdcRealmCheckTriesNameType2Then1() throws {
        let loop = try EventLoop()
        let (pool, session) = try protectedSession(loop)
        var answer: Result<Bool, TLSPoolError>?
        session.checkKDCRealm(.peer, realm: "B.TEST") { answer = $0 }
        let first = try pool.receiveRecord()
        #expect(first.command == .info && first.info.kind == .peerCertSubjectAltName && first.info.ctlkey == session.ctlkey)
        #expect(first.info.checkValue == KDCGeneralName.krbtgt(realm: "B.TEST", nameType: 2))
        try pool.send(.error(.infoNotFound, "no", reqid: first.reqid))
        let second = try pool.receiveRecord()
        #expect(second.info.checkValue == KDCGeneralName.krbtgt(realm: "B.TEST", nameType: 1))
        try pool.send(second)   // echo = match
        #expect(loop.run(until: { answer != nil }, timeout: 2))
        #expect(try answer?.get() == true)

        answer = nil
        session.checkKDCRealm(.mine, realm: "A.TEST") { answer = $0 }
        for _ in 0..<2 {
            let check = try pool.receiveRecord()
            #expect(check.info.kind == .myCertSubjectAltName)
            try pool.send(.error(.infoNotFound, "no", reqid: check.reqid))
        }
        #expect(loop.run(until: { answer != nil }, timeout: 2))
        #expect(try answer?.get() == false)
    }

    @Test func kdcGeneralNameGoldenBytes() {
        // [0] { OID 1.3.6.1.5.2.2, [0] { SEQ { [0] "A.TEST", [1] SEQ { [0] 2, [1] SEQ { "krbtgt", "A.TEST" } } } } }
        let expected: [UInt8] = [
            0xA0, 0x33, 0x06, 0x06, 0x2B, 0x06, 0x01, 0x05, 0x02, 0x02,
            0xA0, 0x29, 0x30, 0x27,
            0xA0, 0x08, 0x1B, 0x06] + Array("A.TEST".utf8) + [
            0xA1, 0x1B, 0x30, 0x19, 0xA0, 0x03, 0x02, 0x01, 0x02,
            0xA1, 0x12, 0x30, 0x10, 0x1B, 0x06] + Array("krbtgt".utf8) + [0x1B, 0x06] + Array("A.TEST".utf8)
        #expect(KDCGeneralName.krbtgt(realm: "A.TEST") == expected)
        #expect(DERBytes.length(200) == [0x81, 200] && DERBytes.length(300) == [0x82, 0x01, 0x2C])
    }
}
}
