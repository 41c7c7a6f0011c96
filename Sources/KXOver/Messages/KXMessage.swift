import SwiftASN1

/// KX-REQ `[APPLICATION 18]` and KX-REP `[APPLICATION 19]` (spec §5.1, §5.2).
public struct KXMessage: Hashable, Sendable {
    public enum Kind: Sendable, Hashable {
        case request, reply

        public var messageType: Int64 { self == .request ? 18 : 19 }
        public var applicationTag: UInt8 { self == .request ? 0x72 : 0x73 }
        public var name: String { self == .request ? "KX-REQ" : "KX-REP" }
    }

    public var kind: Kind
    public var offer: KXOffer

    public init(kind: Kind, offer: KXOffer) {
        self.kind = kind
        self.offer = offer
    }

    public static let pvno: Int64 = 5

    public var derEncoded: [UInt8] {
        derEncode { s in
            try s.application(UInt(kind.messageType)) { s in
                try s.sequence { s in
                    try s.explicit(0) { try $0.integer(Int(Self.pvno)) }
                    try s.explicit(1) { try $0.integer(Int(kind.messageType)) }
                    try s.explicit(2) { try offer.encode(into: &$0) }
                }
            }
        }
    }

    /// Strictly decodes one message that fills `bytes` exactly. With `expecting`
    /// set, any other kind is refused. Trailing components after `[2] offer` are
    /// ignored (the ASN.1 extension marker), but must be well-formed TLVs.
    public init(derEncoded bytes: [UInt8], expecting: Kind? = nil) throws {
        guard let first = bytes.first else {
            throw DecodeFailure(field: expecting?.name ?? "KX message", offset: 0, reason: "empty message")
        }
        let kind: Kind
        switch first {
        case 0x72: kind = .request
        case 0x73: kind = .reply
        default:
            throw DecodeFailure(field: expecting?.name ?? "KX message", offset: 0,
                                reason: "first byte 0x\(Hex.byte(first)) is neither KX-REQ (0x72) nor KX-REP (0x73)")
        }
        if let expecting, expecting != kind {
            throw DecodeFailure(field: expecting.name, offset: 0, reason: "received \(kind.name) where \(expecting.name) was expected")
        }
        self.kind = kind
        self.offer = try DERReader.named(kind.name) { try Self.decodeBody(bytes, kind: kind) }
    }

    private static func decodeBody(_ bytes: [UInt8], kind: Kind) throws -> KXOffer {
        var reader = DERReader(bytes)
        let outer = try reader.read(tag: kind.applicationTag, field: "")
        try reader.expectEnd()
        var body = reader.contents(of: outer)
        var offerRange: Range<Int> = 0..<0
        let offer = try body.sequence(field: "") { seq -> KXOffer in
            let pvno = try seq.explicit(0, field: "pvno") { try $0.integer(field: "pvno", in: Int64.min...Int64.max) }
            guard pvno == Self.pvno else { throw seq.failure("pvno is \(pvno), expected 5", field: "pvno") }
            let msgType = try seq.explicit(1, field: "msg-type") { try $0.integer(field: "msg-type", in: Int64.min...Int64.max) }
            guard msgType == kind.messageType else {
                throw seq.failure("msg-type is \(msgType), expected \(kind.messageType)", field: "msg-type")
            }
            let offerStart = seq.position
            let offer = try seq.explicit(2, field: "offer") { try KXOffer.decode(&$0, field: "offer") }
            offerRange = offerStart..<seq.position
            while !seq.isAtEnd { _ = try seq.readElement(field: "extension") }
            return offer
        }
        // Both sides feed these values into the exporter context, so they must
        // re-encode to exactly the bytes that were received.
        let reencoded = derEncode { s in try s.explicit(2) { try offer.encode(into: &$0) } }
        guard reencoded[...] == bytes[offerRange] else {
            let at = zip(reencoded, bytes[offerRange]).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? 0
            throw DecodeFailure(field: "offer", offset: offerRange.lowerBound + at, reason: "not canonical DER")
        }
        return offer
    }
}
