import SwiftASN1
import Testing
import KXOver

/// Every decoder, fed every truncation and extension of a valid encoding.
@Suite("strict DER decoding")
struct StrictDecodingTests {
    static let samples: [(String, [UInt8])] = [
        ("KX-REQ", Vectors.load("syn-kx-req-conformant.der")),
        ("KX-REP", Vectors.load("syn-kx-rep.der")),
        ("KEY-INFO", Vectors.load("syn-kxover-key-info.der")),
        ("KRB-ERROR", Vectors.load("mit-krb-error-7-fast.der")),
        ("TGS-REQ", Vectors.load("mit-tgs-req-fast-krbtgt-beta.der")),
    ]

    static func decode(_ bytes: [UInt8]) throws {
        _ = try MessageInspector.inspect(bytes)
    }

    @Test(arguments: samples.map(\.0))
    func truncationAtEveryOffsetFails(name: String) {
        let bytes = Self.samples.first { $0.0 == name }!.1
        for cut in 0..<bytes.count {
            let prefix = Array(bytes[..<cut])
            // A 4-byte prefix that happens to equal the remaining length would be read as framing; not the case here.
            #expect(throws: DecodeFailure.self, "\(name) truncated to \(cut) bytes") { try Self.decode(prefix) }
        }
    }

    @Test(arguments: samples.map(\.0))
    func trailingBytesFail(name: String) {
        let bytes = Self.samples.first { $0.0 == name }!.1
        for extra in [[0x00], [0x00, 0x00], [0x30, 0x00], Array(repeating: UInt8(0xFF), count: 7)] as [[UInt8]] {
            #expect(throws: DecodeFailure.self) { try Self.decode(bytes + extra) }
        }
    }

    /// Raising any one length octet by one makes the structure inconsistent.
    /// (The KDC-REQ peek skips what it does not need, so it is not in this list.)
    @Test(arguments: ["KX-REQ", "KX-REP", "KEY-INFO", "KRB-ERROR"])
    func overlongLengthsFail(name: String) {
        let bytes = Self.samples.first { $0.0 == name }!.1
        for position in lengthOctetPositions(bytes) {
            var mutated = bytes
            guard mutated[position] < 0x7F else { continue }
            mutated[position] += 1
            #expect(throws: DecodeFailure.self, "\(name) length at \(position) + 1") { try Self.decode(mutated) }
        }
    }

    @Test func failuresNameFieldAndOffset() throws {
        var bytes = Vectors.load("syn-kx-req-conformant.der")
        bytes[12] = 0x04    // pvno 5 -> 4
        do {
            _ = try KXMessage(derEncoded: bytes)
            Issue.record("pvno 4 accepted")
        } catch let failure as DecodeFailure {
            #expect(failure.field == "KX-REQ.pvno")
            #expect(failure.reason.contains("pvno is 4"))
        }
        // A request-time with a letter in it: the failure points at the GeneralizedTime TLV (offset 28).
        bytes = Vectors.load("syn-kx-req-conformant.der")
        bytes[35] = UInt8(ascii: "X")
        do {
            _ = try KXMessage(derEncoded: bytes)
            Issue.record("bad time accepted")
        } catch let failure as DecodeFailure {
            #expect(failure.field == "KX-REQ.offer.request-time")
            #expect(failure.offset == 28)
        }
    }

    @Test func nonMinimalEncodingsFail() {
        // INTEGER 5 encoded as 00 05.
        let pvno: [UInt8] = [0x72, 0x08, 0x30, 0x06, 0xA0, 0x04, 0x02, 0x02, 0x00, 0x05]
        #expect(throws: DecodeFailure.self) { try KXMessage(derEncoded: pvno) }
        // Long-form length for a short value.
        let longForm: [UInt8] = [0x72, 0x81, 0x05, 0x30, 0x03, 0x02, 0x01, 0x05]
        #expect(throws: DecodeFailure.self) { try KXMessage(derEncoded: longForm) }
        // Indefinite length.
        let indefinite: [UInt8] = [0x72, 0x80, 0x30, 0x00, 0x00, 0x00]
        #expect(throws: DecodeFailure.self) { try KXMessage(derEncoded: indefinite) }
    }

    @Test func criticalFalseMustBeOmitted() throws {
        var offer = Fixture.request()
        offer.extensions = [KXOfferExtension(oid: [1, 3, 6, 1, 4, 1, 44469, 666, 88, 1, 2, 2], critical: false, value: [1])]
        let canonical = KXMessage(kind: .request, offer: offer).derEncoded
        #expect(try KXMessage(derEncoded: canonical).offer == offer)
        // Insert an explicit "[1] BOOLEAN FALSE" after the OID and fix the lengths.
        let ext = KXOfferExtension(oid: [1, 3, 6, 1, 4, 1, 44469, 666, 88, 1, 2, 2], value: [1])
        var s = DER.Serializer()
        try s.appendConstructedNode(identifier: .sequence) { s in
            try s.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)) { try $0.serialize(ext.oid) }
            try s.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific)) { try $0.serialize(false) }
            try s.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific)) { try $0.serialize(ASN1OctetString(contentBytes: [1])) }
        }
        let explicitFalse = s.serializedBytes
        let good = derOfExtension(ext)
        let mutated = replace(good, with: explicitFalse, in: canonical)
        #expect(mutated != nil)
        if let mutated {
            #expect(throws: DecodeFailure.self) { try KXMessage(derEncoded: mutated) }
        }
    }

    /// Anything our reader accepts is valid DER to swift-asn1 as well.
    @Test(arguments: samples.map(\.0))
    func acceptedInputIsDERToSwiftASN1(name: String) throws {
        let bytes = Self.samples.first { $0.0 == name }!.1
        _ = try DER.parse(bytes)
    }

    private func lengthOctetPositions(_ bytes: [UInt8]) -> [Int] {
        // Walk every TLV header and record the position of its (short-form) length octet.
        var positions: [Int] = []
        func walk(_ range: Range<Int>) {
            var i = range.lowerBound
            while i + 1 < range.upperBound {
                let tag = bytes[i]
                let first = bytes[i + 1]
                var length = Int(first), header = 2
                if first & 0x80 != 0 {
                    let n = Int(first & 0x7F)
                    length = bytes[(i + 2)..<(i + 2 + n)].reduce(0) { $0 << 8 | Int($1) }
                    header = 2 + n
                } else {
                    positions.append(i + 1)
                }
                if tag & 0x20 != 0 { walk((i + header)..<(i + header + length)) }
                i += header + length
            }
        }
        walk(0..<bytes.count)
        return positions
    }

    private func derOfExtension(_ ext: KXOfferExtension) -> [UInt8] {
        var s = DER.Serializer()
        try! s.appendConstructedNode(identifier: .sequence) { s in
            try s.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)) { try $0.serialize(ext.oid) }
            try s.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific)) { try $0.serialize(ASN1OctetString(contentBytes: ext.value[...])) }
        }
        return s.serializedBytes
    }

    /// Replaces `old` by `new` inside a KX message and repairs the single-octet
    /// lengths of every TLV that encloses it.
    private func replace(_ old: [UInt8], with new: [UInt8], in message: [UInt8]) -> [UInt8]? {
        guard let start = (0...(message.count - old.count)).first(where: { Array(message[$0..<($0 + old.count)]) == old }) else { return nil }
        let delta = new.count - old.count
        var out = Array(message[..<start]) + new + Array(message[(start + old.count)...])
        // Fix enclosing lengths: walk headers from the top and adjust those whose content covers `start`.
        func fix(_ range: Range<Int>) -> Bool {
            var i = range.lowerBound
            while i + 1 < range.upperBound {
                let first = out[i + 1]
                var header = 2, length = Int(first)
                if first & 0x80 != 0 {
                    let n = Int(first & 0x7F)
                    length = out[(i + 2)..<(i + 2 + n)].reduce(0) { $0 << 8 | Int($1) }
                    header = 2 + n
                }
                let contentStart = i + header
                if contentStart <= start && start < contentStart + length + max(delta, 0) && out[i] & 0x20 != 0 && i < start {
                    let newLength = length + delta
                    if first & 0x80 == 0 {
                        guard newLength < 0x80 else { return false }
                        out[i + 1] = UInt8(newLength)
                    } else {
                        let n = Int(first & 0x7F)
                        var v = newLength
                        for k in stride(from: n - 1, through: 0, by: -1) { out[i + 2 + k] = UInt8(v & 0xFF); v >>= 8 }
                    }
                    return fix(contentStart..<(contentStart + newLength))
                }
                i += header + length
            }
            return true
        }
        return fix(0..<out.count) ? out : nil
    }
}
