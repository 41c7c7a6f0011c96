import SwiftASN1

/// Kerberos error codes this project acts on (RFC 4120 §7.5.9).
public enum KerberosErrorCode {
    /// KDC_ERR_S_PRINCIPAL_UNKNOWN: the trigger for a crossover.
    public static let serverPrincipalUnknown: Int32 = 7
    /// KRB_ERR_GENERIC.
    public static let generic: Int32 = 60
    /// KRB_ERR_FIELD_TOOLONG: refusal of an over-long frame or an RFC 5021 extension.
    public static let fieldTooLong: Int32 = 61
}

/// KRB-ERROR ::= [APPLICATION 30] SEQUENCE { ... } (RFC 4120 §5.9.1).
/// Strings decode leniently: these come from any KDC and are only displayed or routed.
public struct KRBError: Hashable, Sendable {
    public var ctime: KerberosTime?
    public var cusec: Int32?
    public var stime: KerberosTime
    public var susec: Int32
    public var errorCode: Int32
    public var crealm: String?
    public var cname: PrincipalName?
    public var realm: String
    public var sname: PrincipalName
    public var eText: String?
    public var eData: [UInt8]?

    public init(ctime: KerberosTime? = nil, cusec: Int32? = nil, stime: KerberosTime, susec: Int32, errorCode: Int32,
                crealm: String? = nil, cname: PrincipalName? = nil, realm: String, sname: PrincipalName,
                eText: String? = nil, eData: [UInt8]? = nil) {
        self.ctime = ctime
        self.cusec = cusec
        self.stime = stime
        self.susec = susec
        self.errorCode = errorCode
        self.crealm = crealm
        self.cname = cname
        self.realm = realm
        self.sname = sname
        self.eText = eText
        self.eData = eData
    }

    public static let applicationTag: UInt8 = 0x7E

    public var derEncoded: [UInt8] {
        derEncode { s in
            try s.application(30) { s in
                try s.sequence { s in
                    try s.explicit(0) { try $0.integer(5) }
                    try s.explicit(1) { try $0.integer(30) }
                    if let ctime { try s.explicit(2) { $0.kerberosTime(ctime) } }
                    if let cusec { try s.explicit(3) { try $0.integer(cusec) } }
                    try s.explicit(4) { $0.kerberosTime(stime) }
                    try s.explicit(5) { try $0.integer(susec) }
                    try s.explicit(6) { try $0.integer(errorCode) }
                    if let crealm { try s.explicit(7) { $0.kerberosString(crealm) } }
                    if let cname { try s.explicit(8) { try cname.encode(into: &$0) } }
                    try s.explicit(9) { $0.kerberosString(realm) }
                    try s.explicit(10) { try sname.encode(into: &$0) }
                    if let eText { try s.explicit(11) { $0.kerberosString(eText) } }
                    if let eData { try s.explicit(12) { $0.octetString(eData) } }
                }
            }
        }
    }

    public init(derEncoded bytes: [UInt8]) throws {
        self = try DERReader.named("KRB-ERROR") { try Self.decode(bytes) }
    }

    private static func decode(_ bytes: [UInt8]) throws -> KRBError {
        var reader = DERReader(bytes)
        let outer = try reader.read(tag: Self.applicationTag, field: "")
        try reader.expectEnd()
        var body = reader.contents(of: outer)
        return try body.sequence(field: "") { seq in
            let pvno = try seq.explicit(0, field: "pvno") { try $0.integer(field: "pvno", in: Int64.min...Int64.max) }
            guard pvno == 5 else { throw seq.failure("pvno is \(pvno), expected 5", field: "pvno") }
            let msgType = try seq.explicit(1, field: "msg-type") { try $0.integer(field: "msg-type", in: Int64.min...Int64.max) }
            guard msgType == 30 else { throw seq.failure("msg-type is \(msgType), expected 30", field: "msg-type") }
            let ctime = try seq.optionalExplicit(2, field: "ctime") { try $0.kerberosTime(field: "ctime") }
            let cusec = try seq.optionalExplicit(3, field: "cusec") { try $0.int32(field: "cusec") }
            let stime = try seq.explicit(4, field: "stime") { try $0.kerberosTime(field: "stime") }
            let susec = try seq.explicit(5, field: "susec") { try $0.int32(field: "susec") }
            let code = try seq.explicit(6, field: "error-code") { try $0.int32(field: "error-code") }
            let crealm = try seq.optionalExplicit(7, field: "crealm") { try $0.kerberosString(field: "crealm", strict: false) }
            let cname = try seq.optionalExplicit(8, field: "cname") { try PrincipalName.decode(&$0, field: "cname", strict: false) }
            let realm = try seq.explicit(9, field: "realm") { try $0.kerberosString(field: "realm", strict: false) }
            let sname = try seq.explicit(10, field: "sname") { try PrincipalName.decode(&$0, field: "sname", strict: false) }
            let eText = try seq.optionalExplicit(11, field: "e-text") { try $0.kerberosString(field: "e-text", strict: false) }
            let eData = try seq.optionalExplicit(12, field: "e-data") { try $0.octetString(field: "e-data") }
            return KRBError(ctime: ctime, cusec: cusec, stime: stime, susec: susec, errorCode: code, crealm: crealm,
                            cname: cname, realm: realm, sname: sname, eText: eText, eData: eData)
        }
    }

    /// A KRB-ERROR stamped with `now`, naming `realm`'s TGS as the server.
    public static func make(code: Int32, realm: String, now: KerberosTime, microseconds: Int32 = 0,
                            text: String? = nil, data: [UInt8]? = nil) -> KRBError {
        KRBError(stime: now, susec: microseconds, errorCode: code, realm: realm, sname: .krbtgt(realm), eText: text, eData: data)
    }
}
