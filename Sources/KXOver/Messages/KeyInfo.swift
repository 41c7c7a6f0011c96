import SwiftASN1

/// KXOVER-KEY-INFO (spec §6.3): the exporter context both sides build from the
/// two offers. Its DER must be byte-identical on both sides.
public struct KeyInfo: Hashable, Sendable {
    public var kxName: Principal
    public var reqName: Principal
    public var repName: Principal
    public var from: KerberosTime
    public var till: KerberosTime
    public var maxUses: UInt32?
    public var kvno: UInt32
    public var reqSalt: [UInt8]
    public var repSalt: [UInt8]
    public var extensionInfo: [KXOfferExtension]

    public init(kxName: Principal, reqName: Principal, repName: Principal, from: KerberosTime, till: KerberosTime,
                maxUses: UInt32?, kvno: UInt32, reqSalt: [UInt8], repSalt: [UInt8], extensionInfo: [KXOfferExtension] = []) {
        self.kxName = kxName
        self.reqName = reqName
        self.repName = repName
        self.from = from
        self.till = till
        self.maxUses = maxUses
        self.kvno = kvno
        self.reqSalt = reqSalt
        self.repSalt = repSalt
        self.extensionInfo = extensionInfo
    }

    public var derEncoded: [UInt8] {
        derEncode { s in
            try s.sequence { s in
                try s.explicit(0) { try kxName.encode(into: &$0) }
                try s.explicit(1) { try reqName.encode(into: &$0) }
                try s.explicit(2) { try repName.encode(into: &$0) }
                try s.explicit(3) { $0.kerberosTime(from) }
                try s.explicit(4) { $0.kerberosTime(till) }
                if let maxUses { try s.explicit(5) { try $0.integer(maxUses) } }
                try s.explicit(6) { try $0.integer(kvno) }
                try s.explicit(7) { $0.octetString(reqSalt) }
                try s.explicit(8) { $0.octetString(repSalt) }
                try s.explicit(9) { try KXOfferExtension.encodeList(extensionInfo, into: &$0) }
            }
        }
    }

    public init(derEncoded bytes: [UInt8]) throws {
        self = try DERReader.named("KXOVER-KEY-INFO") { try Self.decode(bytes) }
    }

    private static func decode(_ bytes: [UInt8]) throws -> KeyInfo {
        var reader = DERReader(bytes)
        let info = try reader.sequence(field: "") { seq in
            let kxName = try seq.explicit(0, field: "kx-name") { try Principal.decode(&$0, field: "kx-name") }
            let reqName = try seq.explicit(1, field: "req-name") { try Principal.decode(&$0, field: "req-name") }
            let repName = try seq.explicit(2, field: "rep-name") { try Principal.decode(&$0, field: "rep-name") }
            let from = try seq.explicit(3, field: "from") { try $0.kerberosTime(field: "from") }
            let till = try seq.explicit(4, field: "till") { try $0.kerberosTime(field: "till") }
            let maxUses = try seq.optionalExplicit(5, field: "max-uses") { try $0.uint32(field: "max-uses") }
            let kvno = try seq.explicit(6, field: "kvno") { try $0.uint32(field: "kvno") }
            let reqSalt = try seq.explicit(7, field: "req-salt") { try $0.octetString(field: "req-salt") }
            let repSalt = try seq.explicit(8, field: "rep-salt") { try $0.octetString(field: "rep-salt") }
            let ext = try seq.explicit(9, field: "extension-info") { try KXOfferExtension.decodeList(&$0, field: "extension-info") }
            return KeyInfo(kxName: kxName, reqName: reqName, repName: repName, from: from, till: till, maxUses: maxUses,
                           kvno: kvno, reqSalt: reqSalt, repSalt: repSalt, extensionInfo: ext)
        }
        try reader.expectEnd()
        return info
    }
}
