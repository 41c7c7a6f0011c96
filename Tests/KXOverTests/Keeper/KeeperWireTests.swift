import Testing
@testable import KXOver

/// The keeper channel's bytes: every message round-trips, and every way a
/// frame can be wrong is refused with a reason, never a trap.
@Suite("keeper channel wire")
struct KeeperWireTests {
    let local = "LOCAL.TEST"
    let from = KerberosTime(secondsSinceEpoch: 1_800_000_000)!
    var till: KerberosTime { from.adding(seconds: 14 * 86_400) }
    var incoming: Principal { .crossover(client: "PEER.TEST", service: local) }
    var outgoing: Principal { .crossover(client: local, service: "PEER.TEST") }

    func write(_ principal: Principal, etypes: [Int32] = [17, 18], kvno: UInt32 = 31_280) throws -> CrossoverKeyWrite {
        let layout = try KeySchedule.Layout(consecutive: etypes)
        let material = KeyMaterial(count: layout.exportLength)
        material.withUnsafeMutableBytes { for i in $0.indices { $0[i] = UInt8(i) } }
        return CrossoverKeyWrite(principal: principal, kvno: kvno, material: material, layout: layout, from: from, till: till)
    }

    /// The frame without its length prefix, as the keeper's reader hands it on.
    func body(_ request: KeeperRequest, id: UInt32 = 7) -> [UInt8] {
        Array(KeeperWire.encode(KeeperEnvelope(id: id, body: request)).dropFirst(4))
    }

    @Test func everyRequestRoundTrips() throws {
        let requests: [KeeperRequest] = [
            .inspect(realm: local, database: .replica, principal: incoming),
            .store(realm: local, write: try write(outgoing)),
            .claimKeyWork(realm: local, holder: "kdc1.local.test/4242"),
            .maintain(realm: local, claimed: [(incoming, MaintenanceLease(holder: "kdc1/1", until: till))]),
        ]
        for request in requests {
            let decoded = try KeeperWire.decodeRequest(body(request, id: 99))
            #expect(decoded.id == 99)
            #expect(decoded.body.summary == request.summary)
            #expect(body(decoded.body, id: 99) == body(request, id: 99), "\(request.summary)")
        }
        guard case .store(_, let stored) = try KeeperWire.decodeRequest(body(.store(realm: local, write: try write(outgoing)))).body else {
            Issue.record("not a store"); return
        }
        stored.material.withUnsafeBytes { #expect(Array($0) == (0..<48).map(UInt8.init)) }
        #expect(stored.layout.etypes == [17, 18] && stored.kvno == 31_280 && stored.from == from && stored.till == till)
    }

    @Test func everyReplyRoundTrips() throws {
        var claims = KeyWorkClaims()
        claims.claimed = [(incoming, MaintenanceLease(holder: "a/1", until: till))]
        claims.problems = ["one problem"]
        var report = KeyMaintenanceReport()
        report.pruned = [(incoming, 31_279)]
        report.capped = [(outgoing, 3600)]
        report.renew = [outgoing]
        report.lost = [(incoming, nil), (outgoing, MaintenanceLease(holder: "b/2", until: till))]
        let set = ManagedKeySet(principal: incoming, versions: [.init(kvno: 31_280, etypes: [17, 18], from: from, till: nil)])
        let replies: [KeeperReply] = [
            .entry(.absent), .entry(.managed(set)), .entry(.foreign(policy: nil)), .entry(.foreign(policy: "default")),
            .written(.written), .written(.alreadyPresent), .claims(claims), .report(report),
            .failed(KXError(.keyStoring, "LOCAL.TEST: the KDB is locked")),
        ]
        for reply in replies {
            let bytes = KeeperWire.encode(KeeperEnvelope(id: 3, body: reply))
            let decoded = try KeeperWire.decodeReply(Array(bytes.dropFirst(4)))
            #expect(decoded.id == 3)
            #expect(KeeperWire.encode(decoded) == bytes)
        }
        guard case .failed(let error) = try KeeperWire.decodeReply(Array(KeeperWire.encode(KeeperEnvelope(id: 1, body: replies.last!)).dropFirst(4))).body else {
            Issue.record("not a failure"); return
        }
        #expect(error.code == .keyStoring && error.detail == "LOCAL.TEST: the KDB is locked")
    }

    @Test func malformedRequestsAreRefusedWithAReason() throws {
        let store = body(.store(realm: local, write: try write(outgoing)))
        var wrongVersion = store; wrongVersion[0] = 2
        var unknownKind = store; unknownKind[1] = 9
        var reply = store; reply[1] = 0x81
        let cases: [(String, [UInt8], String)] = [
            ("empty", [], "truncated"),
            ("cut short", Array(store.dropLast(3)), "truncated"),
            ("trailing bytes", store + [0], "after the message"),
            ("another version", wrongVersion, "version 2"),
            ("an unknown kind", unknownKind, "unknown kind"),
            ("a reply sent as a request", reply, "not a request"),
        ]
        for (what, bytes, reason) in cases {
            #expect(throws: KeeperWire.Malformed.self, "\(what)") { try KeeperWire.decodeRequest(bytes) }
            do { _ = try KeeperWire.decodeRequest(bytes) } catch let error as KeeperWire.Malformed {
                #expect(error.reason.contains(reason), "\(what): \(error.reason)")
            }
        }
    }

    /// Key material must be exactly what the etypes need: the keeper never
    /// stores a short key padded by kadm5, nor extra bytes the engine slipped in.
    @Test func keyMaterialMustFitTheEtypes() throws {
        var bytes = body(.store(realm: local, write: try write(outgoing)))
        // The material's length field sits before 48 bytes and the two times (16 bytes).
        let lengthAt = bytes.count - 16 - 48 - 2
        #expect(bytes[lengthAt] == 0 && bytes[lengthAt + 1] == 48)
        bytes[lengthAt + 1] = 47
        bytes.remove(at: lengthAt + 2)
        do {
            _ = try KeeperWire.decodeRequest(bytes)
            Issue.record("47 bytes for aes128 + aes256 decoded")
        } catch let error as KeeperWire.Malformed {
            #expect(error.reason.contains("47 bytes of key material"))
        }
    }

    @Test func unknownOrRepeatedEtypesAreRefused() throws {
        let good = body(.store(realm: local, write: try write(outgoing)))
        // etypes list: count 2, then 17 and 18 as 4-byte integers, right after the kvno.
        guard let at = (0..<(good.count - 10)).first(where: { Array(good[$0..<($0 + 10)]) == [0, 2, 0, 0, 0, 17, 0, 0, 0, 18] }) else {
            Issue.record("etype list not found"); return
        }
        var unknown = good; unknown[at + 5] = 23   // rc4: no seed length kxover knows
        var repeated = good; repeated[at + 9] = 17
        #expect(throws: KeeperWire.Malformed.self) { try KeeperWire.decodeRequest(unknown) }
        #expect(throws: KeeperWire.Malformed.self) { try KeeperWire.decodeRequest(repeated) }
    }

    @Test func frameReaderSplitsAStreamAndRefusesBadLengths() throws {
        let one = KeeperWire.encode(KeeperEnvelope(id: 1, body: KeeperRequest.claimKeyWork(realm: local, holder: "h/1")))
        let two = KeeperWire.encode(KeeperEnvelope(id: 2, body: KeeperRequest.inspect(realm: local, database: .primary, principal: incoming)))
        let stream = one + two
        for split in 0...stream.count {
            var reader = KeeperFrameReader()
            let frames = try reader.feed(stream[..<split]) + reader.feed(stream[split...])
            #expect(frames == [Array(one.dropFirst(4)), Array(two.dropFirst(4))], "split at \(split)")
            #expect(reader.buffered == 0)
        }
        var reader = KeeperFrameReader()
        #expect(throws: KeeperWire.Malformed.self) { try reader.feed([0x00, 0x20, 0x00, 0x00] + [UInt8](repeating: 0, count: 8)) }
        var tiny = KeeperFrameReader()
        #expect(throws: KeeperWire.Malformed.self) { try tiny.feed([0, 0, 0, 5, 1, 1, 0, 0, 0]) }
    }

    @Test func zeroizeClearsEveryByte() {
        var bytes = [UInt8](repeating: 0xA5, count: 64)
        KeeperWire.zeroize(&bytes)
        #expect(bytes.allSatisfy { $0 == 0 })
    }
}
