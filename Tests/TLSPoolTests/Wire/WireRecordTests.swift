import Testing
@testable import TLSPool

/// Byte-exact layout of the 388-byte record against spec §1.4–1.5.
@Suite("TLS Pool wire record")
struct WireRecordTests {
    /// Record offset of a pio_data offset.
    func at(_ dataOffset: Int) -> Int { 8 + dataOffset }

    @Test func headerIsLittleEndianAtFixedOffsets() {
        var record = TLSPoolRecord(command: PIOCCommand(rawValue: 0x1122_3344), reqid: 0xA1B2, cbid: 0x0304)
        record.setData([0xEE])
        let bytes = record.encoded()
        #expect(bytes.count == 388)
        #expect(bytes[0..<8] == [0xB2, 0xA1, 0x04, 0x03, 0x44, 0x33, 0x22, 0x11])
        #expect(bytes[8] == 0xEE)
        #expect(bytes[9...].allSatisfy { $0 == 0 })
    }

    @Test func decodeRefusesAnythingButOneRecord() {
        #expect(throws: TLSPoolWireError.badRecordSize(387)) { try TLSPoolRecord(bytes: [UInt8](repeating: 0, count: 387)) }
        #expect(throws: TLSPoolWireError.badRecordSize(389)) { try TLSPoolRecord(bytes: [UInt8](repeating: 0, count: 389)) }
    }

    @Test func roundTripPreservesEveryByte() throws {
        let bytes = (0..<388).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let record = try TLSPoolRecord(bytes: bytes)
        #expect(record.encoded() == bytes)
    }

    @Test func errorPayloadOffsets() {
        var record = TLSPoolRecord.error(TLSPoolErrorCode.commandUnknown, "nope", reqid: 5)
        #expect(record.command == .error)
        let bytes = record.encoded()
        #expect(bytes[at(0)..<at(4)] == [0x08, 0x50, 0x6B, 0xBA])   // -1167372280 LE
        #expect(Array(bytes[at(4)..<at(9)]) == Array("nope\0".utf8))
        record.error.message = String(repeating: "x", count: 200)
        #expect(record.error.message.utf8.count == 127)
        #expect(record.encoded()[at(4 + 127)] == 0)
        #expect(ErrorPayload.size == 132)
    }

    @Test func pingPayloadOffsets() {
        var record = TLSPoolRecord(command: .ping, reqid: 1)
        record.ping.identity = TLSPoolProtocol.identityV2
        record.ping.facilities = .startTLS
        let bytes = record.encoded()
        #expect(Array(bytes[at(0)..<at(29)]) == Array("20151111api@tlspool.arpa2.net".utf8))
        #expect(bytes[at(29)] == 0)
        #expect(bytes[at(136)..<at(140)] == [1, 0, 0, 0])
        #expect(PingPayload.size == 140)
    }

    @Test func startTLSPayloadOffsets() {
        var record = TLSPoolRecord(command: .startTLS, reqid: 2)
        record.setData([UInt8](repeating: 0x5A, count: 380))   // pre-filled: untouched bytes must survive
        var s = record.starttls
        s.flags = .kxoverClient
        s.local = 0x0102_0304
        s.ipProtocol = 6
        s.streamID = 0xBEEF
        s.localID = "kdc.a.test"
        s.remoteID = "kdc.b.test"
        s.ctlkey = CtlKey(bytes: Array(1...16))
        s.service = "kerberos"
        s.timeout = 0xFFFF_FFFF
        record.starttls = s
        let b = record.encoded()
        #expect(b[at(0)..<at(4)] == [0x09, 0, 0, 0])
        #expect(b[at(4)..<at(8)] == [0x04, 0x03, 0x02, 0x01])
        #expect(b[at(8)] == 6)
        #expect(b[at(9)] == 0x5A, "padding byte untouched")
        #expect(b[at(10)..<at(12)] == [0xEF, 0xBE])
        #expect(Array(b[at(12)..<at(23)]) == Array("kdc.a.test\0".utf8))
        #expect(b[at(23)..<at(140)].allSatisfy { $0 == 0 }, "NUL-padded")
        #expect(Array(b[at(140)..<at(151)]) == Array("kdc.b.test\0".utf8))
        #expect(Array(b[at(268)..<at(284)]) == Array(1...16))
        #expect(Array(b[at(284)..<at(293)]) == Array("kerberos\0".utf8))
        #expect(b[at(300)..<at(304)] == [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(b[at(304)...].allSatisfy { $0 == 0x5A }, "bytes past pioc_starttls preserved")
        #expect(StartTLSPayload.size == 304)
        let decoded = try? TLSPoolRecord(bytes: b)
        #expect(decoded?.starttls.localID == "kdc.a.test")
        #expect(decoded?.starttls.remoteID == "kdc.b.test")
        #expect(decoded?.starttls.service == "kerberos")
    }

    @Test func editingOneFieldKeepsTheEcho() throws {
        let original = try TLSPoolRecord(bytes: (0..<388).map { UInt8(truncatingIfNeeded: $0 | 1) })
        var edited = original
        edited.starttls.localID = "x"
        let a = original.encoded(), b = edited.encoded()
        for i in 0..<388 where !(at(12)..<at(140)).contains(i) { #expect(a[i] == b[i]) }
    }

    @Test func prngPayloadOffsets() {
        var record = TLSPoolRecord(command: .prng, reqid: 3)
        record.prng.in1Length = 32
        record.prng.in2Length = -1
        record.prng.prngLength = 350
        let key = CtlKey(bytes: [UInt8](repeating: 0xCC, count: 16))
        record.prng.buffer = key.bytes + Array("EXPERIMENTAL-INTERNETWIDE-KXOVER".utf8)
        let b = record.encoded()
        #expect(b[at(0)..<at(2)] == [32, 0])
        #expect(b[at(2)..<at(4)] == [0xFF, 0xFF])
        #expect(b[at(4)..<at(6)] == [0x5E, 0x01])
        #expect(b[at(6)..<at(22)].allSatisfy { $0 == 0xCC })
        #expect(Array(b[at(22)..<at(54)]) == Array("EXPERIMENTAL-INTERNETWIDE-KXOVER".utf8))
        #expect(record.prng.ctlkey == key)
        #expect(record.prng.label == Array("EXPERIMENTAL-INTERNETWIDE-KXOVER".utf8))
        #expect(record.prng.context == nil, "in2_len -1 is no context")
        record.prng.in2Length = 0
        #expect(record.prng.context == [])
        record.prng.in2Length = 303   // 16 + 32 + 303 > 350
        #expect(record.prng.context == nil)
        #expect(PRNGPayload.size == 356)
        #expect(TLSPoolProtocol.prngBufferLength == 350)
    }

    @Test func infoPayloadOffsets() {
        var record = TLSPoolRecord(command: .info, reqid: 4)
        record.info.ctlkey = CtlKey(bytes: [UInt8](repeating: 7, count: 16))
        record.info.kind = .peerCertSubjectAltName
        record.info.length = 3
        record.info.buffer = [0xA0, 0x01, 0x00]
        let b = record.encoded()
        #expect(b[at(0)..<at(16)].allSatisfy { $0 == 7 })
        #expect(b[at(16)..<at(20)] == [0x02, 0x00, 0x80, 0x52])
        #expect(b[at(20)..<at(22)] == [3, 0])
        #expect(b[at(22)..<at(25)] == [0xA0, 0x01, 0x00])
        #expect(record.info.checkValue == [0xA0, 0x01, 0x00])
        record.info.length = InfoKind.queryLength
        #expect(record.info.checkValue == nil)
        #expect(InfoPayload.size == 356 && TLSPoolProtocol.infoBufferLength == 334)
        #expect(InfoKind.myCertSubjectAltName.rawValue == 0x5280_0102)
        #expect(InfoKind.peerCertSubjectAltName.rawValue | InfoKind.myCertificateBit == InfoKind.myCertSubjectAltName.rawValue)
    }

    @Test func controlAndLIDEntryOffsets() {
        var control = TLSPoolRecord(command: .controlDetach)
        control.control.flags = 0xAABB_CCDD
        control.control.ctlkey = CtlKey(bytes: [UInt8](repeating: 9, count: 16))
        control.control.name = "n"
        var b = control.encoded()
        #expect(b[at(0)..<at(4)] == [0xDD, 0xCC, 0xBB, 0xAA])
        #expect(b[at(4)..<at(20)].allSatisfy { $0 == 9 })
        #expect(b[at(20)..<at(22)] == [0x6E, 0])
        #expect(ControlPayload.size == 148)

        var lid = TLSPoolRecord(command: .lidEntryRegister)
        lid.lidEntry.flags = .wantDBEntry
        lid.lidEntry.maxLevels = 0x0102
        lid.lidEntry.timeout = 0x0A0B_0C0D
        lid.lidEntry.localID = "l"
        lid.lidEntry.remoteID = "r"
        b = lid.encoded()
        #expect(b[at(0)..<at(4)] == [0x00, 0x01, 0, 0])
        #expect(b[at(4)..<at(6)] == [0x02, 0x01])
        #expect(b[at(6)..<at(10)] == [0x0D, 0x0C, 0x0B, 0x0A])
        #expect(b[at(10)] == 0x6C && b[at(138)] == 0x72)
        #expect(LIDEntryPayload.size == 266)
    }

    @Test func pinEntryIsRawButReadable() throws {
        var bytes = [UInt8](repeating: 0, count: 388)
        bytes[4] = 0x29
        bytes[at(0)] = 1; bytes[at(4)] = 2; bytes[at(8)] = 3
        let record = try TLSPoolRecord(bytes: bytes)
        #expect(record.pinEntry.flags == 1 && record.pinEntry.attempt == 2 && record.pinEntry.timeoutMicroseconds == 3)
        if case .raw(let data) = record.payload { #expect(data.count == 380) } else { Issue.record("PINENTRY is raw") }
        #expect(PINEntryPayload.size == TLSPoolProtocol.payloadSize)
    }

    @Test func fixedStringsNeverTrap() throws {
        var bytes = [UInt8](repeating: 0xFF, count: 388)   // no NUL, invalid UTF-8
        bytes[4...7] = [0x24, 0, 0, 0]
        let record = try TLSPoolRecord(bytes: bytes)
        #expect(record.starttls.localID.count == 128)
        #expect(!FixedStringField.fits(String(repeating: "a", count: 128)))
        #expect(FixedStringField.fits(String(repeating: "a", count: 127)))
        #expect(!FixedStringField.fits("a\0b"))
    }

    @Test func commandCodes() {
        let expected: [(PIOCCommand, UInt32, String)] = [
            (.success, 0x00, "PIOC_SUCCESS_V2"), (.error, 0x01, "PIOC_ERROR_V2"), (.ping, 0x10, "PIOC_PING_V2"),
            (.startTLS, 0x24, "PIOC_STARTTLS_V2"), (.startTLSLocalID, 0x28, "PIOC_STARTTLS_LOCALID_V2"),
            (.pinEntry, 0x29, "PIOC_PINENTRY_V2"), (.plaintextConnect, 0x2a, "PIOC_PLAINTEXT_CONNECT_V2"),
            (.prng, 0x2b, "PIOC_PRNG_V2"), (.info, 0x2c, "PIOC_INFO_V2"),
            (.controlDetach, 0x100, "PIOC_CONTROL_DETACH_V2"), (.controlReattach, 0x101, "PIOC_CONTROL_REATTACH_V2"),
            (.lidEntryRegister, 0x200, "PIOC_LIDENTRY_REGISTER_V2"), (.lidEntryCallback, 0x201, "PIOC_LIDENTRY_CALLBACK_V2"),
            (.prngLong, 0x8000_002b, "PIOC_LOCAL_PRNG_LONG"),
        ]
        for (command, value, name) in expected {
            #expect(command.rawValue == value)
            #expect(command.name == name)
        }
        #expect(PIOCCommand.prngLong.isLocal && !PIOCCommand.prng.isLocal)
    }

    @Test func errorTable() {
        #expect(TLSPoolErrorCode.allCases.count == 30)
        #expect(TLSPoolErrorCode.base == -1_167_372_288)
        #expect(UInt32(bitPattern: TLSPoolErrorCode.base) == 0xBA6B_5000)
        for (index, code) in TLSPoolErrorCode.allCases.enumerated() {
            #expect(code.rawValue == TLSPoolErrorCode.base + Int32(index))
        }
        #expect(TLSPoolErrorCode.cipherSocketNeeded.rawValue == -1167372282)
        #expect(TLSPoolErrorCode.commandNotImplemented.name == "E_TLSPOOL_COMMAND_NOTIMPL")
        #expect(TLSPoolErrorCode.stirredNotShaken.rawValue == -1167372264)
        #expect(TLSPoolErrorCode.infoNotFound.rawValue == -1167372259)
        #expect(TLSPoolErrorCode.name(of: 32) == "EPIPE")
        #expect(TLSPoolErrorCode.name(of: -1167372285) == "E_TLSPOOL_CLIENT_REFUSES_CALLBACK")
        #expect(TLSPoolErrorCode.name(of: -5) == "-5")
    }

    @Test func roleMasking() {
        #expect(StartTLSFlags.kxoverClient.rawValue == 0x9)
        #expect(StartTLSFlags.kxoverServer.union(.localIDCheck).rawValue == 0x0001_0006)
        #expect(StartTLSFlags.kxoverClient.effectiveLocalRoles == .localRoleClient)
        #expect(StartTLSFlags.kxoverServer.effectiveLocalRoles == .localRoleServer)
        #expect(StartTLSFlags([.localRoleClient]).effectiveLocalRoles.isEmpty, "client without a remote server")
        #expect(StartTLSFlags([]).effectiveLocalRoles.isEmpty)
        #expect(StartTLSFlags.bothRolesPeer.effectiveLocalRoles == .localRolePeer)
        #expect(Facilities.allCurrent == .startTLS)
    }

    @Test func ctlkeysAreRandomAndRedacted() {
        let a = CtlKey.random(), b = CtlKey.random()
        #expect(a != b && !a.isZero)
        #expect(!a.description.contains(a.bytes.map { String($0, radix: 16) }.joined()))
    }
}
