import KXOver

/// The SubjectAltName GeneralName that names a KDC in a certificate
/// (spec kxover §4.2): otherName id-pkinit-san (1.3.6.1.5.2.2) holding
/// `[0] EXPLICIT KRB5PrincipalName` for krbtgt/REALM@REALM. The pool's INFO
/// check compares this complete TLV (tag, length, value).
public enum KDCGeneralName {
    /// DER of OID 1.3.6.1.5.2.2.
    static let pkinitSANOID: [UInt8] = [0x06, 0x06, 0x2B, 0x06, 0x01, 0x05, 0x02, 0x02]

    /// Name types a KDC certificate may carry for krbtgt: NT-SRV-INST (2, RFC
    /// 4120 and certtool) first, then NT-PRINCIPAL (1, MIT's PKINIT recipe).
    public static let acceptedNameTypes: [Int32] = [NameType.serviceInstance, NameType.principal]

    /// `[0] { OID, [0] { KRB5PrincipalName } }` for krbtgt/REALM@REALM.
    public static func krbtgt(realm: String, nameType: Int32 = NameType.serviceInstance) -> [UInt8] {
        let principal = Principal(realm: realm, name: PrincipalName(nameType: nameType, components: ["krbtgt", realm]))
        let value = DERBytes.tlv(0xA0, principal.derEncoded)
        return DERBytes.tlv(0xA0, pkinitSANOID + value)
    }
}

/// Minimal DER building for the few fixed shapes above.
enum DERBytes {
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        [tag] + length(content.count) + content
    }

    static func length(_ n: Int) -> [UInt8] {
        if n < 0x80 { return [UInt8(n)] }
        var bytes: [UInt8] = []
        var rest = n
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xFF), at: 0)
            rest >>= 8
        }
        return [0x80 | UInt8(bytes.count)] + bytes
    }
}
