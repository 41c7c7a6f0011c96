import SwiftASN1
import Testing
import KXOver

/// Seeded property tests: the same cases run every time, so a failure replays.
@Suite("properties")
struct PropertyTests {
    static func randomRealm(_ random: inout SeededRandom) -> String {
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let labels = (0..<Int.random(in: 2...4, using: &random)).map { _ in
            String((0..<Int.random(in: 1...12, using: &random)).map { _ in letters.randomElement(using: &random)! })
        }
        return labels.joined(separator: ".")
    }

    static func randomTime(_ random: inout SeededRandom) -> KerberosTime {
        KerberosTime(secondsSinceEpoch: Int64.random(in: 0...4_102_444_800, using: &random))!
    }

    static func randomOffer(_ random: inout SeededRandom) -> KXOffer {
        let client = randomRealm(&random), service = randomRealm(&random)
        let from = randomTime(&random)
        let allEtypes: [Int32] = [17, 18, 19, 20, 25, 26, -135, 1_000_000]
        let extensions = (0..<Int.random(in: 0...2, using: &random)).map { _ in
            KXOfferExtension(oid: try! ASN1ObjectIdentifier(elements: [1, 3, 6, 1, 4, 1, UInt.random(in: 0...100_000, using: &random)]),
                             critical: Bool.random(using: &random), value: random.bytes(Int.random(in: 0...40, using: &random)))
        }
        return KXOffer(
            requestTime: randomTime(&random),
            salt: random.bytes(Int.random(in: 0...64, using: &random)),
            kxName: .crossover(client: client, service: service),
            kvno: UInt32.random(in: 0...UInt32.max, using: &random),
            etypes: allEtypes.filter { _ in Bool.random(using: &random) }.sorted(),
            from: from, till: from.adding(seconds: Int64.random(in: -10...40 * 86_400, using: &random)),
            maxUses: Bool.random(using: &random) ? UInt32.random(in: 0...UInt32.max, using: &random) : nil,
            myName: .kdc(of: Bool.random(using: &random) ? client : service),
            extensions: extensions)
    }

    @Test func randomOffersRoundTrip() throws {
        var random = SeededRandom(seed: 18)
        for _ in 0..<2_000 {
            let offer = Self.randomOffer(&random)
            for kind in [KXMessage.Kind.request, .reply] {
                let bytes = KXMessage(kind: kind, offer: offer).derEncoded
                let decoded = try KXMessage(derEncoded: bytes, expecting: kind)
                #expect(decoded.offer == offer)
                _ = try DER.parse(bytes)   // swift-asn1 agrees it is DER
            }
        }
    }

    @Test func randomKeyInfosRoundTrip() throws {
        var random = SeededRandom(seed: 19)
        for _ in 0..<1_000 {
            let a = Self.randomOffer(&random), b = Self.randomOffer(&random)
            let info = KeyInfo(kxName: a.kxName, reqName: a.myName, repName: b.myName, from: a.from, till: b.till,
                               maxUses: a.maxUses, kvno: b.kvno, reqSalt: a.salt, repSalt: b.salt)
            #expect(try KeyInfo(derEncoded: info.derEncoded) == info)
        }
    }

    /// Random bytes, and random corruptions of valid messages, never crash a
    /// decoder; whatever is accepted re-encodes to exactly the input.
    @Test func randomInputNeverCrashesAndAcceptedInputIsCanonical() {
        var random = SeededRandom(seed: 30)
        let seeds = ["syn-kx-req-conformant.der", "syn-kx-rep.der", "syn-kxover-key-info.der",
                     "mit-krb-error-7-fast.der", "mit-tgs-req-fast-krbtgt-beta.der"].map(Vectors.load)
        var accepted = 0
        for round in 0..<20_000 {
            var input: [UInt8]
            if round % 4 == 0 {
                input = random.bytes(Int.random(in: 0...300, using: &random))
            } else {
                input = seeds.randomElement(using: &random)!
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    switch Int.random(in: 0...3, using: &random) {
                    case 0: input[Int.random(in: 0..<input.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                    case 1: input.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...input.count, using: &random))
                    case 2: if input.count > 1 { input.remove(at: Int.random(in: 0..<input.count, using: &random)) }
                    default: input = Array(input.prefix(Int.random(in: 0...input.count, using: &random)))
                    }
                    if input.isEmpty { break }
                }
            }
            if let message = try? KXMessage(derEncoded: input) {
                accepted += 1
                // Unknown trailing components after [2] are ignored, so compare the offer only.
                #expect(try! KXMessage(derEncoded: message.derEncoded) == message)
            }
            if let info = try? KeyInfo(derEncoded: input) {
                accepted += 1
                #expect(info.derEncoded == input)
            }
            if let error = try? KRBError(derEncoded: input) {
                accepted += 1
                _ = error.derEncoded
            }
            _ = try? KDCRequestPeek(derEncoded: input)
            _ = try? MessageInspector.inspect(input)
            _ = try? Principal(derEncoded: input)
        }
        #expect(accepted > 0)
    }
}

@Suite("MIT captures and KRB-ERROR")
struct CaptureTests {
    @Test func fastArmoredTGSRequestPeek() throws {
        let peek = try KDCRequestPeek(derEncoded: Vectors.load("mit-tgs-req-fast-krbtgt-beta.der"))
        #expect(peek.kind == .tgsRequest)
        #expect(peek.realm == "ALPHA.EXAMPLE")
        #expect(peek.sname == .krbtgt("BETA.EXAMPLE.ORG"))
        #expect(peek.sname?.krbtgtRealm == "BETA.EXAMPLE.ORG")
        #expect(!peek.canonicalize)
        #expect(peek.nonce != 0)
    }

    @Test func krbError7Decodes() throws {
        let bytes = Vectors.load("mit-krb-error-7-fast.der")
        let error = try KRBError(derEncoded: bytes)
        #expect(error.errorCode == KerberosErrorCode.serverPrincipalUnknown)
        #expect(error.realm == "ALPHA.EXAMPLE")
        #expect(error.sname == .krbtgt("BETA.EXAMPLE.ORG"))
        #expect(error.eData?.count == 260)
        #expect(error.derEncoded == bytes)   // MIT's encoding is canonical DER
        #expect(KerberosMessageClass(message: bytes) == .krbError)
    }

    @Test func classification() {
        #expect(KerberosMessageClass(firstByte: 0x6A) == .asRequest)
        #expect(KerberosMessageClass(firstByte: 0x6B) == .asReply)
        #expect(KerberosMessageClass(firstByte: 0x6C) == .tgsRequest)
        #expect(KerberosMessageClass(firstByte: 0x6D) == .tgsReply)
        #expect(KerberosMessageClass(firstByte: 0x72) == .kxRequest)
        #expect(KerberosMessageClass(firstByte: 0x73) == .kxReply)
        #expect(KerberosMessageClass(firstByte: 0x30) == .other(0x30))
        #expect(KerberosMessageClass(message: [UInt8]()) == nil)
    }

    @Test func canonicalizeFlagIsBit15() throws {
        // Build a minimal TGS-REQ with kdc-options 0x00010000 (bit 15) and an NT-SRV-HST sname.
        func tlv(_ tag: UInt8, _ c: [UInt8]) -> [UInt8] { precondition(c.count < 128); return [tag, UInt8(c.count)] + c }
        func gs(_ s: String) -> [UInt8] { tlv(0x1B, Array(s.utf8)) }
        let sname = tlv(0x30, tlv(0xA0, [0x02, 0x01, 0x03]) + tlv(0xA1, tlv(0x30, gs("host") + gs("svc.service.test"))))
        let body = tlv(0x30, tlv(0xA0, [0x03, 0x05, 0x00, 0x00, 0x01, 0x00, 0x00]) + tlv(0xA2, gs("CLIENT.TEST"))
                        + tlv(0xA3, sname) + tlv(0xA5, [0x18, 0x0F] + Array("20261128120000Z".utf8))
                        + tlv(0xA7, [0x02, 0x01, 0x2A]) + tlv(0xA8, tlv(0x30, [0x02, 0x01, 0x12])))
        let req = tlv(0x6C, tlv(0x30, tlv(0xA1, [0x02, 0x01, 0x05]) + tlv(0xA2, [0x02, 0x01, 0x0C]) + tlv(0xA4, body)))
        let peek = try KDCRequestPeek(derEncoded: req)
        #expect(peek.canonicalize)
        #expect(peek.sname == PrincipalName(nameType: NameType.serviceHost, components: ["host", "svc.service.test"]))
        #expect(peek.nonce == 42)
    }
}
