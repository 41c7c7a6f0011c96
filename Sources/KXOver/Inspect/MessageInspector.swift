/// Renders any message kxover handles as readable text, for `kxover decode`
/// and for logs. The kind is detected from the first byte; a 4-byte Kerberos
/// TCP length prefix in front of the message is accepted and stripped.
public enum MessageInspector {
    public struct Report: Sendable {
        public let kind: String
        public let lines: [String]
        public var text: String { ([kind] + lines.map { "  " + $0 }).joined(separator: "\n") }
    }

    public static func inspect(_ input: [UInt8]) throws -> Report {
        var bytes = input
        if bytes.count > 4, bytes[0] & 0x80 == 0 {
            let length = bytes[0..<4].reduce(0) { $0 << 8 | Int($1) }
            if length == bytes.count - 4 { bytes = Array(bytes[4...]) }
        }
        guard let first = bytes.first else {
            throw DecodeFailure(field: "input", offset: 0, reason: "empty input")
        }
        switch first {
        case 0x72, 0x73:
            let message = try KXMessage(derEncoded: bytes)
            return Report(kind: "\(message.kind.name) (\(bytes.count) bytes)", lines: describe(message.offer))
        case 0x30:
            let info = try KeyInfo(derEncoded: bytes)
            return Report(kind: "KXOVER-KEY-INFO (\(bytes.count) bytes)", lines: describe(info))
        case KRBError.applicationTag:
            let error = try KRBError(derEncoded: bytes)
            return Report(kind: "KRB-ERROR (\(bytes.count) bytes)", lines: describe(error))
        case 0x6A, 0x6C:
            let peek = try KDCRequestPeek(derEncoded: bytes)
            return Report(kind: "\(peek.kind == .asRequest ? "AS-REQ" : "TGS-REQ") (\(bytes.count) bytes, outer fields only)",
                          lines: describe(peek))
        default:
            throw DecodeFailure(field: "input", offset: 0,
                                reason: "first byte 0x\(Hex.byte(first)) is not KX-REQ, KX-REP, KXOVER-KEY-INFO, KRB-ERROR, AS-REQ or TGS-REQ")
        }
    }

    static func describe(_ offer: KXOffer) -> [String] {
        var lines = [
            "request-time \(offer.requestTime)",
            "salt         \(offer.salt.count) bytes \(Hex.string(offer.salt))",
            "kx-name      \(offer.kxName) (name-type \(offer.kxName.name.nameType))",
            "kvno         \(offer.kvno)\(kvnoNote(offer.kvno))",
            "etypes       \(offer.etypes.map { "\($0) \(Etype.name($0))" }.joined(separator: ", "))",
            "from         \(offer.from)",
            "till         \(offer.till)\(lifetimeNote(offer.from, offer.till))",
        ]
        if let maxUses = offer.maxUses { lines.append("max-uses     \(maxUses)") }
        lines.append("my-name      \(offer.myName) (name-type \(offer.myName.name.nameType))")
        lines.append(contentsOf: describe(extensions: offer.extensions))
        return lines
    }

    static func describe(_ info: KeyInfo) -> [String] {
        var lines = [
            "kx-name   \(info.kxName)",
            "req-name  \(info.reqName)",
            "rep-name  \(info.repName)",
            "from      \(info.from)",
            "till      \(info.till)\(lifetimeNote(info.from, info.till))",
        ]
        if let maxUses = info.maxUses { lines.append("max-uses  \(maxUses)") }
        lines += [
            "kvno      \(info.kvno)\(kvnoNote(info.kvno))",
            "req-salt  \(info.reqSalt.count) bytes \(Hex.string(info.reqSalt))",
            "rep-salt  \(info.repSalt.count) bytes \(Hex.string(info.repSalt))",
        ]
        lines.append(contentsOf: describe(extensions: info.extensionInfo))
        return lines
    }

    static func describe(_ error: KRBError) -> [String] {
        var lines = ["error-code \(error.errorCode)\(errorName(error.errorCode))"]
        if let ctime = error.ctime { lines.append("ctime      \(ctime)") }
        lines.append("stime      \(error.stime) (+\(error.susec) µs)")
        if let crealm = error.crealm { lines.append("crealm     \(crealm)") }
        if let cname = error.cname { lines.append("cname      \(cname)") }
        lines.append("realm      \(error.realm)")
        lines.append("sname      \(error.sname) (name-type \(error.sname.nameType))")
        if let text = error.eText { lines.append("e-text     \(text)") }
        if let data = error.eData { lines.append("e-data     \(data.count) bytes") }
        return lines
    }

    static func describe(_ peek: KDCRequestPeek) -> [String] {
        var lines: [String] = []
        if let cname = peek.cname { lines.append("cname  \(cname) (name-type \(cname.nameType))") }
        lines.append("realm  \(peek.realm)")
        if let sname = peek.sname { lines.append("sname  \(sname) (name-type \(sname.nameType))") }
        lines.append("nonce  \(peek.nonce)")
        lines.append("options 0x\(Hex.string(TCPFraming.bigEndian(peek.options)))\(peek.canonicalize ? " canonicalize" : "")")
        return lines
    }

    static func describe(extensions: [KXOfferExtension]) -> [String] {
        guard !extensions.isEmpty else { return ["extensions none"] }
        return extensions.map { "extension  \($0.oid)\($0.critical ? " critical" : "") \($0.value.count) bytes" }
    }

    static func kvnoNote(_ kvno: UInt32) -> String {
        guard let c = KvnoPolicy.components(of: kvno) else { return "" }
        return " (policy: month \(c.month), day \(c.day), serial \(c.serial))"
    }

    static func lifetimeNote(_ from: KerberosTime, _ till: KerberosTime) -> String {
        let seconds = till.secondsSinceEpoch - from.secondsSinceEpoch
        return seconds % 86_400 == 0 ? " (\(seconds / 86_400) days)" : " (\(seconds) s)"
    }

    static func errorName(_ code: Int32) -> String {
        switch code {
        case KerberosErrorCode.serverPrincipalUnknown: return " KDC_ERR_S_PRINCIPAL_UNKNOWN"
        case KerberosErrorCode.generic: return " KRB_ERR_GENERIC"
        case KerberosErrorCode.fieldTooLong: return " KRB_ERR_FIELD_TOOLONG"
        case 6: return " KDC_ERR_C_PRINCIPAL_UNKNOWN"
        case 24: return " KDC_ERR_PREAUTH_FAILED"
        case 25: return " KDC_ERR_PREAUTH_REQUIRED"
        case 31: return " KRB_AP_ERR_BAD_INTEGRITY"
        case 37: return " KRB_AP_ERR_SKEW"
        default: return ""
        }
    }
}
