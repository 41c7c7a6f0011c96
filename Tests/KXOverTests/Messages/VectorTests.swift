import Testing
import KXOver

@Suite("syn-* vectors")
struct VectorTests {
    @Test func encodesRequestFromValues() {
        #expect(KXMessage(kind: .request, offer: SynValues.request).derEncoded == Vectors.load("syn-kx-req-conformant.der"))
    }

    @Test func encodesReplyFromValues() {
        #expect(KXMessage(kind: .reply, offer: SynValues.reply).derEncoded == Vectors.load("syn-kx-rep.der"))
    }

    @Test func decodesRequestToValues() throws {
        let message = try KXMessage(derEncoded: Vectors.load("syn-kx-req-conformant.der"))
        #expect(message.kind == .request)
        #expect(message.offer == SynValues.request)
    }

    @Test func decodesReplyToValues() throws {
        let message = try KXMessage(derEncoded: Vectors.load("syn-kx-rep.der"), expecting: .reply)
        #expect(message.offer == SynValues.reply)
    }

    @Test func mergeYieldsKeyInfoVector() throws {
        let request = try KXMessage(derEncoded: Vectors.load("syn-kx-req-conformant.der")).offer
        let reply = try KXMessage(derEncoded: Vectors.load("syn-kx-rep.der")).offer
        let info = try KeySchedule.merge(request: request, reply: reply)
        #expect(info.derEncoded == Vectors.load("syn-kxover-key-info.der"))
        let layout = try KeySchedule.layout(request: request, reply: reply)
        #expect(layout.etypes == [18, 20])
        #expect(layout.exportLength == 64)
        #expect(layout.slots.map(\.range) == [0..<32, 32..<64])
    }

    @Test func keyInfoRoundTrips() throws {
        let bytes = Vectors.load("syn-kxover-key-info.der")
        let info = try KeyInfo(derEncoded: bytes)
        #expect(info.kvno == 23061)
        #expect(info.from == SynValues.reply.from)
        #expect(info.till == SynValues.reply.till)
        #expect(info.maxUses == nil)
        #expect(info.derEncoded == bytes)
    }

    @Test func wrongKindIsRefused() {
        #expect(throws: DecodeFailure.self) {
            try KXMessage(derEncoded: Vectors.load("syn-kx-rep.der"), expecting: .request)
        }
        #expect(throws: KXError.self) {
            try OfferChecks.decode(Vectors.load("syn-kx-req-conformant.der"), expecting: .reply)
        }
    }

    /// The 2019 reference peers wrapped name-string in a second SEQUENCE.
    @Test func doubleWrappedNameStringIsRejected() throws {
        var bytes = Vectors.load("syn-kx-req-conformant.der")
        // Rebuild the kx-name's name-string [1] with the extra layer, fixing every enclosing length.
        let doubled = doubleWrapFirstNameString(bytes)
        bytes = doubled
        do {
            _ = try KXMessage(derEncoded: bytes)
            Issue.record("double-wrapped name-string was accepted")
        } catch let failure as DecodeFailure {
            #expect(failure.field.hasPrefix("KX-REQ.offer.kx-name"))
            #expect(failure.reason.contains("extra SEQUENCE"))
        }
    }

    /// Encodes the request again with the reference's layout for kx-name.
    private func doubleWrapFirstNameString(_ original: [UInt8]) -> [UInt8] {
        func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
            precondition(content.count < 0x10000)
            if content.count < 0x80 { return [tag, UInt8(content.count)] + content }
            if content.count < 0x100 { return [tag, 0x81, UInt8(content.count)] + content }
            return [tag, 0x82, UInt8(content.count >> 8), UInt8(content.count & 0xFF)] + content
        }
        func gstr(_ s: String) -> [UInt8] { tlv(0x1B, Array(s.utf8)) }
        let strings = tlv(0x30, gstr("krbtgt") + gstr(SynValues.serviceRealm))
        let name = tlv(0x30, tlv(0xA0, [0x02, 0x01, 0x02]) + tlv(0xA1, tlv(0x30, strings)))
        let kxName = tlv(0x30, tlv(0xA0, gstr(SynValues.clientRealm)) + tlv(0xA1, name))
        // Splice: the offer fields before [2] kx-name end at byte 81 in the vector; [2] itself spans 81..<154.
        let offerBody = Array(original[26..<81]) + tlv(0xA2, kxName) + Array(original[154...])
        let offer = tlv(0xA2, tlv(0x30, offerBody))
        let body = tlv(0x30, Array(original[8..<18]) + offer)
        return tlv(0x72, body)
    }
}
