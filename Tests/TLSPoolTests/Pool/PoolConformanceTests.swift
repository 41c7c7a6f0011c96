import TLSPoolHarness
import Foundation
import KXOver
import Testing
@testable import TLSPool

/// The pool driven with raw records (spec §7.3 "Conformance"): each
/// transition with its reqid/cbid rules, each ERROR, and cleanup.
extension TLSPoolSerialTests {
@Suite("TLS Pool conformance with raw records")
struct PoolConformanceTests {
    func pool(_ identities: [TLSPoolConfiguration.Identity]? = nil) throws -> TLSPoolServer {
        let certs = try TestCertificates.get()
        return try TLSPoolServer(configuration: TLSPoolConfiguration(
            identities: identities ?? [certs.identity("kdc-b", host: "kdc.b.test")], tlsaResolver: certs.secureResolver()))
    }

    func expectError(_ record: TLSPoolRecord, _ code: TLSPoolErrorCode, reqid: UInt16? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(record.command == .error, "\(record)", sourceLocation: sourceLocation)
        #expect(record.error.code == code.rawValue, "\(record)", sourceLocation: sourceLocation)
        #expect(record.cbid == 0, "ERROR carries cbid 0", sourceLocation: sourceLocation)
        if let reqid { #expect(record.reqid == reqid, sourceLocation: sourceLocation) }
    }

    /// tlspoold's socket: a second pool never takes over a live one, and a
    /// pool that stops removes the file only while it is still its own.
    @Test func aLivePoolSocketIsNeverTakenOver() throws {
        let path = NSTemporaryDirectory() + "kx-pool-\(UUID().uuidString.prefix(8)).sock"
        let first = try pool()
        try first.listen(path: path)
        let second = try pool()
        #expect(throws: TLSPoolSetupError.self) { try second.listen(path: path) }
        second.shutdown()
        var info = stat()
        #expect(lstat(path, &info) == 0, "the refused pool left the live socket alone")
        _ = try TLSPoolConnection.connect(path: path)   // the first pool still answers there
        unlink(path)   // as if another process had replaced it ...
        let third = try pool()
        try third.listen(path: path)
        first.shutdown()   // ... the first pool must not remove the newer socket
        #expect(lstat(path, &info) == 0)
        third.shutdown()
        #expect(lstat(path, &info) != 0)
    }

    @Test func pingAnswersIdentityAndMaskedFacilities() throws {
        let pool = try pool()
        defer { pool.shutdown() }
        let app = try RawClient(pool)
        var ping = TLSPoolRecord(command: .ping)
        ping.ping.identity = "20990101example@app.test"
        ping.ping.facilities = Facilities(rawValue: 0x7)
        let answer = try app.roundTrip(ping)
        #expect(answer.command == .ping && answer.cbid == 0)
        #expect(answer.ping.identity == TLSPoolProtocol.identityV2)
        #expect(answer.ping.facilities == .startTLS)
    }

    @Test func unknownAndStrayCommands() throws {
        let pool = try pool()
        defer { pool.shutdown() }
        let app = try RawClient(pool)
        expectError(try app.roundTrip(TLSPoolRecord(command: PIOCCommand(rawValue: 0x7777))), .commandUnknown)
        expectError(try app.roundTrip(TLSPoolRecord(command: .plaintextConnect, cbid: 513)), .commandUnknown)
        expectError(try app.roundTrip(TLSPoolRecord(command: .startTLSLocalID, cbid: 1)), .commandUnknown)
        expectError(try app.roundTrip(TLSPoolRecord(command: .lidEntryRegister)), .commandNotImplemented)
        expectError(try app.roundTrip(TLSPoolRecord(command: .pinEntry)), .commandNotImplemented)
        expectError(try app.roundTrip(TLSPoolRecord(command: .prngLong)), .prngUnavailable)
    }

    @Test func startTLSRefusalsBeforeAnyHandshake() throws {
        let pool = try pool()
        defer { pool.shutdown() }
        let app = try RawClient(pool)
        expectError(try app.roundTrip(.startTLS(.kxoverServer)), .cipherSocketNeeded)

        let cases: [(StartTLSFlags, TLSPoolErrorCode)] = [
            ([], .commandNotImplemented),
            ([.localRoleClient], .commandNotImplemented),                     // no remote server role: masked away
            (.bothRolesPeer, .commandNotImplemented),
            (StartTLSFlags.kxoverClient.union(.ignoreRemoteID), .commandNotImplemented),
            (StartTLSFlags.kxoverServer.union(.requestRemoteID), .commandNotImplemented),
            (StartTLSFlags.kxoverClient.union(.dtls), .commandNotImplemented),
            (StartTLSFlags.kxoverClient.union(.renegotiate), .superfluousSocket),
        ]
        for (flags, code) in cases {
            let tcp = try loopbackTCPPair()
            let inode = DescriptorAudit.inode(of: tcp.client)
            expectError(try app.roundTrip(.startTLS(flags, remoteID: "kdc.b.test"), passing: tcp.client), code)
            close(tcp.client)
            close(tcp.server)
            #expect(DescriptorAudit.isGone(socketInode: inode), "the pool closed the socket it refused (flags 0x\(String(flags.rawValue, radix: 16)))")
        }
        expectError(try app.roundTrip(.startTLS(StartTLSFlags.kxoverClient.union(.renegotiate))), .commandNotImplemented)
    }

    @Test func prngAndInfoNeedALiveSessionOfThisConnection() throws {
        let pool = try pool()
        defer { pool.shutdown() }
        let app = try RawClient(pool)
        let key = CtlKey.random()
        expectError(try app.roundTrip(.prng(ctlkey: key)), .ctlkeyNotFound)
        var info = TLSPoolRecord(command: .info)
        info.info.ctlkey = key
        info.info.kind = .peerCertSubjectAltName
        info.info.length = 2
        expectError(try app.roundTrip(info), .ctlkeyNotFound)
        var detach = TLSPoolRecord(command: .controlDetach)
        detach.control.ctlkey = key
        expectError(try app.roundTrip(detach), .ctlkeyNotFound)
    }

    @Test(arguments: [
        ("label length 0", Int16(0), Int16(-1), Int16(32)),
        ("label, context beyond 350", Int16(32), Int16(303), Int16(32)),
        ("output 0", Int16(32), Int16(-1), Int16(0)),
        ("output beyond 350", Int16(32), Int16(-1), Int16(351)),
        ("negative label", Int16(-5), Int16(-1), Int16(32)),
    ])
    func prngBadLengths(_ what: String, in1: Int16, in2: Int16, out: Int16) throws {
        let pool = try pool()
        defer { pool.shutdown() }
        let app = try RawClient(pool)
        var record = TLSPoolRecord.prng(ctlkey: .random())
        record.prng.in1Length = in1
        record.prng.in2Length = in2
        record.prng.prngLength = out
        expectError(try app.roundTrip(record), .prngUnavailable)
    }

    /// Replies never wait for an application's socket: one that sends and
    /// never reads gets its replies queued, and is cut off once more than
    /// `Outbox.limit` wait; meanwhile the lanes (which it shares with the
    /// other connections) answer everyone else at once.
    @Test func anApplicationThatNeverReadsIsCutOffWithoutHoldingUpOthers() throws {
        let pool = try pool()
        defer { pool.shutdown() }
        let silent = try RawClient(pool)
        let others = try (0..<pool.configuration.lanes).map { _ in try RawClient(pool) }   // one on every lane
        var ping = TLSPoolRecord(command: .ping)
        ping.ping.facilities = .startTLS
        var sent = 0, cut = false
        let deadline = Date().addingTimeInterval(30)
        while !cut && sent < 4 * Outbox.limit && Date() < deadline {
            do { try silent.request(ping); sent += 1 } catch { cut = true }
            if sent % 1000 == 0 {
                for other in others { #expect(try other.roundTrip(ping).command == .ping) }
            }
        }
        #expect(cut, "the pool ended the connection (after \(sent) requests)")
        #expect(sent > Outbox.limit, "it queued \(Outbox.limit) replies first")
        let gone = Date().addingTimeInterval(5)
        while pool.connectionCount > others.count && Date() < gone { usleep(10_000) }
        #expect(pool.connectionCount == others.count)
        for other in others { #expect(try other.roundTrip(ping).command == .ping) }
    }

    /// Both sides raw: T3 → T4 → T5a → T6 → T7a → T8 on the server, T3 → T6 → T7a → T8 on the client.
    @Test func everyTransitionWithItsReqidAndCbidRules() throws {
        let certs = try TestCertificates.get()
        let serverPool = try pool(), clientPool = try pool([certs.identity("kdc-a", host: "kdc.a.test")])
        defer { serverPool.shutdown(); clientPool.shutdown() }
        let server = try RawClient(serverPool), client = try RawClient(clientPool)
        let tcp = try loopbackTCPPair()
        let serverKey = CtlKey.random(), clientKey = CtlKey.random()

        // T3 on both sides (the TCP sockets travel with the records).
        let r2 = try server.request(.startTLS(StartTLSFlags.kxoverServer.union(.localIDCheck), ctlkey: serverKey), passing: tcp.server)
        let c2 = try client.request(.startTLS(.kxoverClient, localID: "kdc.a.test", remoteID: "kdc.b.test", ctlkey: clientKey), passing: tcp.client)
        close(tcp.server)
        close(tcp.client)

        // T4: LOCALID proposes the SNI name, on the latest reqid, with a cbid in 1...1024.
        let localIDCallback = try server.receiveRecord()
        #expect(localIDCallback.command == .startTLSLocalID && localIDCallback.reqid == r2)
        #expect(TLSPoolProtocol.callbackIDRange.contains(localIDCallback.cbid))
        #expect(localIDCallback.starttls.localID == "kdc.b.test")
        // PRNG for a session still handshaking: not registered yet.
        expectError(try server.roundTrip(.prng(ctlkey: serverKey)), .ctlkeyNotFound)
        // T5a: echo with a fresh reqid.
        let r3 = try server.request(localIDCallback.answered())

        // Client T6: PLAINTEXT_CONNECT with the validated ids filled in.
        let clientPlaintext = try client.receiveRecord()
        #expect(clientPlaintext.command == .plaintextConnect && clientPlaintext.reqid == c2 && clientPlaintext.cbid != 0)
        #expect(clientPlaintext.starttls.localID == "kdc.a.test" && clientPlaintext.starttls.remoteID == "kdc.b.test")
        let (clientOurs, clientTheirs) = try Descriptors.socketPair()
        defer { close(clientOurs) }
        let c4 = try client.request(clientPlaintext.answered(), passing: clientTheirs)
        close(clientTheirs)
        // Client T8: final STARTTLS on the latest reqid, stale cbid kept, same ctlkey.
        let clientFinal = try client.receiveRecord()
        #expect(clientFinal.command == .startTLS && clientFinal.reqid == c4 && clientFinal.cbid == clientPlaintext.cbid)
        #expect(clientFinal.starttls.ctlkey == clientKey && clientFinal.starttls.remoteID == "kdc.b.test")

        // Server T6/T7a/T8.
        let serverPlaintext = try server.receiveRecord()
        #expect(serverPlaintext.command == .plaintextConnect && serverPlaintext.reqid == r3)
        #expect(serverPlaintext.cbid != 0)
        #expect(serverPlaintext.starttls.localID == "kdc.b.test" && serverPlaintext.starttls.remoteID == "kdc.a.test")
        let (serverOurs, serverTheirs) = try Descriptors.socketPair()
        defer { close(serverOurs) }
        let r4 = try server.request(serverPlaintext.answered(), passing: serverTheirs)
        close(serverTheirs)
        let serverFinal = try server.receiveRecord()
        #expect(serverFinal.command == .startTLS && serverFinal.reqid == r4 && serverFinal.starttls.ctlkey == serverKey)
        #expect(serverFinal.starttls.remoteID == "kdc.a.test", "the validated client host")

        // PRNG on both sides: equal bytes, the buffer wiped but for the output.
        let clientKeyBytes = try client.roundTrip(.prng(ctlkey: clientKey, length: 48))
        let serverKeyBytes = try server.roundTrip(.prng(ctlkey: serverKey, length: 48))
        #expect(clientKeyBytes.command == .prng && clientKeyBytes.prng.prngLength == 48)
        #expect(Array(clientKeyBytes.prng.buffer.prefix(48)) == Array(serverKeyBytes.prng.buffer.prefix(48)))
        #expect(clientKeyBytes.prng.buffer[48...].allSatisfy { $0 == 0 }, "ctlkey and label not echoed")

        // Another pool connection cannot use the ctlkey.
        let stranger = try RawClient(serverPool)
        expectError(try stranger.roundTrip(.prng(ctlkey: serverKey)), .ctlkeyNotFound)

        // INFO: SAN checks (complete TLV), Name queries, unsupported kinds.
        var san = TLSPoolRecord(command: .info)
        san.info.ctlkey = serverKey
        san.info.kind = .peerCertSubjectAltName
        let peerRealm = KDCGeneralName.krbtgt(realm: "A.TEST")
        san.info.length = UInt16(peerRealm.count)
        san.info.buffer = peerRealm
        #expect(try server.roundTrip(san).command == .info)
        san.info.kind = .myCertSubjectAltName
        expectError(try server.roundTrip(san), .infoNotFound)
        san.info.length = 334
        expectError(try server.roundTrip(san), .commandNotImplemented)
        var subject = san
        subject.info.kind = .peerCertSubject
        subject.info.length = InfoKind.queryLength
        let name = try server.roundTrip(subject)
        #expect(name.command == .info && name.info.length > 0 && name.info.buffer.first == 0x30)
        subject.info.kind = .channelBindingTLSUnique
        expectError(try server.roundTrip(subject), .infoNotFound)
        subject.info.kind = InfoKind(rawValue: 0x1234)
        expectError(try server.roundTrip(subject), .infoKindUnknown)

        // DETACH / REATTACH.
        var detach = TLSPoolRecord(command: .controlDetach)
        detach.control.ctlkey = serverKey
        expectError(try stranger.roundTrip(detach), .ctlkeyNotYours)
        #expect(try server.roundTrip(detach).command == .success)
        expectError(try server.roundTrip(detach), .ctlkeyDetached)
        expectError(try server.roundTrip(.prng(ctlkey: serverKey)), .ctlkeyNotFound)
        var reattach = detach
        reattach.command = .controlReattach
        #expect(try stranger.roundTrip(reattach).command == .success)
        expectError(try server.roundTrip(reattach), .ctlkeyAttached)
        #expect(try stranger.roundTrip(.prng(ctlkey: serverKey)).command == .prng, "now the stranger's")

        // The relay connects the two plaintext ends.
        #expect(write(clientOurs, "ping", 4) == 4)
        #expect(readBytes(serverOurs, count: 4) == Array("ping".utf8))
    }

    /// Starts a server-side STARTTLS (LOCALID_CHECK) against a client pool and
    /// returns at the LOCALID callback.
    func serverAtLocalID() throws -> (server: RawClient, client: RawClient, callback: TLSPoolRecord, pools: [TLSPoolServer], tcpInodes: [UInt64]) {
        let certs = try TestCertificates.get()
        let serverPool = try pool(), clientPool = try pool([certs.identity("kdc-a", host: "kdc.a.test")])
        let server = try RawClient(serverPool), client = try RawClient(clientPool)
        let tcp = try loopbackTCPPair()
        let inodes = [DescriptorAudit.inode(of: tcp.server), DescriptorAudit.inode(of: tcp.client)]
        try server.request(.startTLS(StartTLSFlags.kxoverServer.union(.localIDCheck)), passing: tcp.server)
        try client.request(.startTLS(.kxoverClient, localID: "kdc.a.test", remoteID: "kdc.b.test"), passing: tcp.client)
        close(tcp.server)
        close(tcp.client)
        let callback = try server.receiveRecord()
        #expect(callback.command == .startTLSLocalID)
        return (server, client, callback, [serverPool, clientPool], inodes)
    }

    @Test func declinedLocalIDEndsWithErrorOnTheDeclinesReqid() throws {
        let flow = try serverAtLocalID()
        defer { flow.pools.forEach { $0.shutdown() } }
        let r3 = try flow.server.request(.error(.stirredNotShaken, "no such realm here", cbid: flow.callback.cbid))
        let final = try flow.server.receiveRecord()
        expectError(final, .stirredNotShaken, reqid: r3)
        #expect(final.error.message.contains("no such realm here"))
        let clientSide = try flow.client.receiveRecord()
        expectError(clientSide, .stirredNotShaken)
        #expect(clientSide.error.message.contains("handshake failed"), "\(clientSide.error.message)")
    }

    @Test func plaintextConnectWithoutSocketOrWithError() throws {
        for withError in [false, true] {
            let flow = try serverAtLocalID()
            defer { flow.pools.forEach { $0.shutdown() } }
            try flow.server.request(flow.callback.answered())
            let plaintext = try flow.server.receiveRecord()
            #expect(plaintext.command == .plaintextConnect)
            if withError {
                let r = try flow.server.request(.error(.clientRefusesCallback, "no", cbid: plaintext.cbid))
                expectError(try flow.server.receiveRecord(), .commandBadCallbackResponse, reqid: r)
            } else {
                let r = try flow.server.request(plaintext.answered())   // no descriptor
                expectError(try flow.server.receiveRecord(), .plainSocketNeeded, reqid: r)
            }
        }
    }

    @Test func clientDisconnectingMidFlowLeavesNothingBehind() throws {
        let baseline = DescriptorAudit.openCount()
        do {
            let flow = try serverAtLocalID()
            #expect(flow.pools[0].activeSessionCount == 1)
            flow.server.close()   // gone while the pool waits for the LOCALID answer
            #expect(flow.pools[0].waitUntilNoSessions(timeout: 5), "the waiting session ends")
            #expect(DescriptorAudit.isGone(socketInode: flow.tcpInodes[0]), "the pool closed its TCP socket")
            // The client side's handshake fails and its session ends as well.
            expectError(try flow.client.receiveRecord(), .stirredNotShaken)
            #expect(flow.pools[1].waitUntilNoSessions(timeout: 5))
            let deadline = Date().addingTimeInterval(5)
            while flow.pools[0].connectionCount > 0 && Date() < deadline { usleep(10_000) }
            #expect(flow.pools[0].connectionCount == 0, "the connection is gone")
            #expect(flow.pools[0].liveThreadCount == flow.pools[0].configuration.lanes, "its lanes only, as before")
            flow.client.close()
            flow.pools.forEach { $0.shutdown() }
        }
        #expect(DescriptorAudit.returnsTo(baseline))
    }

    @Test func duplicateCtlkeyIsRefusedAtRegistration() throws {
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let first = try pair.handshake()
        let session = try first.client.get()
        // A second STARTTLS on the same pool reusing the live ctlkey.
        let raw = RawClient(connection: try pair.clientPool.connectInProcess())
        let serverApp = try RawClient(pair.serverPool)
        let tcp = try loopbackTCPPair()
        try serverApp.request(.startTLS(.kxoverServer), passing: tcp.server)
        let c2 = try raw.request(.startTLS(.kxoverClient, localID: "kdc.a.test", remoteID: "kdc.b.test", ctlkey: session.ctlkey), passing: tcp.client)
        close(tcp.server)
        close(tcp.client)
        let plaintext = try raw.receiveRecord()
        #expect(plaintext.reqid == c2)
        let (ours, theirs) = try Descriptors.socketPair()
        defer { close(ours) }
        let c4 = try raw.request(plaintext.answered(), passing: theirs)
        close(theirs)
        expectError(try raw.receiveRecord(), .ctlkeyRegistrationFailed, reqid: c4)
    }
}
}
