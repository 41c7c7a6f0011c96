import SwiftASN1

/// KX-OFFER-EXTENSION ::= SEQUENCE { oid [0], critical [1] BOOLEAN DEFAULT FALSE, value [2] OCTET STRING }
public struct KXOfferExtension: Hashable, Sendable {
    public var oid: ASN1ObjectIdentifier
    public var critical: Bool
    public var value: [UInt8]

    public init(oid: ASN1ObjectIdentifier, critical: Bool = false, value: [UInt8] = []) {
        self.oid = oid
        self.critical = critical
        self.value = value
    }

    static func decode(_ reader: inout DERReader, field: String) throws -> KXOfferExtension {
        try reader.sequence(field: field) { seq in
            let oid = try seq.explicit(0, field: "oid") { try $0.objectIdentifier(field: "oid") }
            let start = seq.position
            let critical = try seq.optionalExplicit(1, field: "critical") { try $0.boolean(field: "critical") }
            if critical == false {
                throw seq.failure("critical FALSE is the DEFAULT and must be left out in DER", field: "critical", at: start)
            }
            let value = try seq.explicit(2, field: "value") { try $0.octetString(field: "value") }
            return KXOfferExtension(oid: oid, critical: critical ?? false, value: value)
        }
    }

    func encode(into s: inout DER.Serializer) throws {
        try s.sequence { s in
            try s.explicit(0) { try $0.serialize(oid) }
            if critical { try s.explicit(1) { try $0.serialize(true) } }
            try s.explicit(2) { $0.octetString(value) }
        }
    }

    static func decodeList(_ reader: inout DERReader, field: String) throws -> [KXOfferExtension] {
        try reader.sequenceOf(field: field) { item, index in
            try DERReader.item(index) { try KXOfferExtension.decode(&item, field: "") }
        }
    }

    static func encodeList(_ list: [KXOfferExtension], into s: inout DER.Serializer) throws {
        try s.sequence { s in
            for ext in list { try ext.encode(into: &s) }
        }
    }
}

/// KX-OFFER (spec §5.3): what each side proposes. Strict: no extension marker.
public struct KXOffer: Hashable, Sendable {
    public var requestTime: KerberosTime
    public var salt: [UInt8]
    /// The crossover key being set up: `krbtgt/SERVICE.REALM@CLIENT.REALM`.
    public var kxName: Principal
    public var kvno: UInt32
    /// Etypes the sender can create, strictly rising.
    public var etypes: [Int32]
    public var from: KerberosTime
    public var till: KerberosTime
    public var maxUses: UInt32?
    /// The sender: `krbtgt/OWNREALM@OWNREALM`.
    public var myName: Principal
    public var extensions: [KXOfferExtension]

    public init(requestTime: KerberosTime, salt: [UInt8], kxName: Principal, kvno: UInt32, etypes: [Int32],
                from: KerberosTime, till: KerberosTime, maxUses: UInt32? = nil, myName: Principal,
                extensions: [KXOfferExtension] = []) {
        self.requestTime = requestTime
        self.salt = salt
        self.kxName = kxName
        self.kvno = kvno
        self.etypes = etypes
        self.from = from
        self.till = till
        self.maxUses = maxUses
        self.myName = myName
        self.extensions = extensions
    }

    static func decode(_ reader: inout DERReader, field: String) throws -> KXOffer {
        try reader.sequence(field: field) { seq in
            let requestTime = try seq.explicit(0, field: "request-time") { try $0.kerberosTime(field: "request-time") }
            let salt = try seq.explicit(1, field: "salt") { try $0.octetString(field: "salt") }
            let kxName = try seq.explicit(2, field: "kx-name") { try Principal.decode(&$0, field: "kx-name") }
            let kvno = try seq.explicit(3, field: "kvno") { try $0.uint32(field: "kvno") }
            let etypes = try seq.explicit(4, field: "etypes") { inner in
                try inner.sequenceOf(field: "etypes") { item, index in try DERReader.item(index) { try item.int32(field: "") } }
            }
            let from = try seq.explicit(5, field: "from") { try $0.kerberosTime(field: "from") }
            let till = try seq.explicit(6, field: "till") { try $0.kerberosTime(field: "till") }
            let maxUses = try seq.optionalExplicit(7, field: "max-uses") { try $0.uint32(field: "max-uses") }
            let myName = try seq.explicit(8, field: "my-name") { try Principal.decode(&$0, field: "my-name") }
            let extensions = try seq.explicit(9, field: "extensions") { try KXOfferExtension.decodeList(&$0, field: "extensions") }
            return KXOffer(requestTime: requestTime, salt: salt, kxName: kxName, kvno: kvno, etypes: etypes,
                           from: from, till: till, maxUses: maxUses, myName: myName, extensions: extensions)
        }
    }

    func encode(into s: inout DER.Serializer) throws {
        try s.sequence { s in
            try s.explicit(0) { $0.kerberosTime(requestTime) }
            try s.explicit(1) { $0.octetString(salt) }
            try s.explicit(2) { try kxName.encode(into: &$0) }
            try s.explicit(3) { try $0.integer(kvno) }
            try s.explicit(4) { s in
                try s.sequence { s in for etype in etypes { try s.integer(etype) } }
            }
            try s.explicit(5) { $0.kerberosTime(from) }
            try s.explicit(6) { $0.kerberosTime(till) }
            if let maxUses { try s.explicit(7) { try $0.integer(maxUses) } }
            try s.explicit(8) { try myName.encode(into: &$0) }
            try s.explicit(9) { try KXOfferExtension.encodeList(extensions, into: &$0) }
        }
    }

    public var derEncoded: [UInt8] { derEncode { try encode(into: &$0) } }
}
