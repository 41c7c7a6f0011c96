/// What the front end needs from a Kerberos message without decoding it:
/// the message class by its first byte (RFC 4120 application tags).
public enum KerberosMessageClass: Equatable, Sendable {
    case asRequest, asReply, tgsRequest, tgsReply, krbError, kxRequest, kxReply, other(UInt8)

    public init(firstByte: UInt8) {
        switch firstByte {
        case 0x6A: self = .asRequest
        case 0x6B: self = .asReply
        case 0x6C: self = .tgsRequest
        case 0x6D: self = .tgsReply
        case 0x7E: self = .krbError
        case 0x72: self = .kxRequest
        case 0x73: self = .kxReply
        default: self = .other(firstByte)
        }
    }

    public init?<Bytes: Collection<UInt8>>(message: Bytes) {
        guard let first = message.first else { return nil }
        self.init(firstByte: first)
    }
}

/// A peek into AS-REQ / TGS-REQ (RFC 4120 §5.4.1): enough to route a request
/// and decide on a trigger. It reads the outer req-body only, which stays in
/// the clear even when the request is FAST-armored; everything else is skipped.
public struct KDCRequestPeek: Hashable, Sendable {
    public enum Kind: Sendable, Hashable { case asRequest, tgsRequest }

    public var kind: Kind
    public var options: UInt32
    public var cname: PrincipalName?
    public var realm: String
    public var sname: PrincipalName?
    public var nonce: UInt32

    /// KDCOptions bit 15 (RFC 6806): the client accepts referrals.
    public var canonicalize: Bool { options & (1 << (31 - 15)) != 0 }

    public init(derEncoded bytes: [UInt8]) throws {
        self = try DERReader.named("KDC-REQ") { try Self.decode(bytes) }
    }

    private static func decode(_ bytes: [UInt8]) throws -> KDCRequestPeek {
        var reader = DERReader(bytes)
        let outer = try reader.readElement(field: "")
        let kind: Kind
        switch outer.tag {
        case 0x6A: kind = .asRequest
        case 0x6C: kind = .tgsRequest
        default:
            throw reader.failure("tag 0x\(Hex.byte(outer.tag)) is neither AS-REQ (0x6A) nor TGS-REQ (0x6C)", at: outer.start)
        }
        try reader.expectEnd()
        var body = reader.contents(of: outer)
        return try body.sequence(field: kind == .asRequest ? "AS-REQ" : "TGS-REQ") { seq in
            let pvno = try seq.explicit(1, field: "pvno") { try $0.integer(field: "pvno", in: Int64.min...Int64.max) }
            guard pvno == 5 else { throw seq.failure("pvno is \(pvno), expected 5", field: "pvno") }
            let msgType = try seq.explicit(2, field: "msg-type") { try $0.integer(field: "msg-type", in: Int64.min...Int64.max) }
            guard msgType == (kind == .asRequest ? 10 : 12) else {
                throw seq.failure("msg-type \(msgType) does not match the application tag", field: "msg-type")
            }
            if seq.peekTag() == 0xA3 { _ = try seq.readElement(field: "padata") }
            return try seq.explicit(4, field: "req-body") { inner in
                try inner.sequence(field: "req-body") { rb in
                    let options = try rb.explicit(0, field: "kdc-options") { try Self.kdcOptions(&$0) }
                    let cname = try rb.optionalExplicit(1, field: "cname") { try PrincipalName.decode(&$0, field: "cname", strict: false) }
                    let realm = try rb.explicit(2, field: "realm") { try $0.kerberosString(field: "realm", strict: false) }
                    let sname = try rb.optionalExplicit(3, field: "sname") { try PrincipalName.decode(&$0, field: "sname", strict: false) }
                    var nonce: UInt32 = 0
                    while !rb.isAtEnd {
                        if rb.peekTag() == 0xA7 {
                            nonce = try rb.explicit(7, field: "nonce") { try $0.uint32(field: "nonce") }
                        } else {
                            _ = try rb.readElement(field: "field")
                        }
                    }
                    return KDCRequestPeek(kind: kind, options: options, cname: cname, realm: realm, sname: sname, nonce: nonce)
                }
            }
        }
    }

    init(kind: Kind, options: UInt32, cname: PrincipalName?, realm: String, sname: PrincipalName?, nonce: UInt32) {
        self.kind = kind
        self.options = options
        self.cname = cname
        self.realm = realm
        self.sname = sname
        self.nonce = nonce
    }

    /// KDCOptions ::= KerberosFlags (BIT STRING, at least 32 bits); bit 0 is the MSB.
    private static func kdcOptions(_ reader: inout DERReader) throws -> UInt32 {
        let element = try reader.read(tag: 0x03, field: "kdc-options")
        let content = reader.content(of: element)
        guard content.count >= 2, let unused = content.first, unused < 8 else {
            throw reader.failure("malformed BIT STRING", field: "kdc-options", at: element.start)
        }
        var value: UInt32 = 0
        for (i, byte) in content.dropFirst().prefix(4).enumerated() { value |= UInt32(byte) << (24 - 8 * i) }
        return value
    }
}
