import KXOver

/// A minimal AS-REQ (RFC 4120 §5.4.1) without pre-authentication, used to ask
/// krb5kdc whether it is alive and serving our realm: it answers with a
/// KRB-ERROR (25 pre-authentication required, 6 unknown client) after one
/// database lookup, or an AS-REP for a principal without +preauth. Also the
/// realistic request of the relay benchmark. Vary `nonce` per request: MIT's
/// lookaside cache answers byte-identical requests without a lookup.
/// The nonce is kept to 31 bits: krb5kdc decodes it as a signed 32-bit
/// integer and drops a request whose nonce does not fit ("ASN.1 value too large").
public enum BackendProbeRequest {
    public static func asRequest(client: String, realm: String, nonce: UInt32, till: KerberosTime,
                                 etypes: [Int32] = [18, 17, 20, 19]) -> [UInt8] {
        let body = sequence(
            explicit(0, tlv(0x03, [0, 0, 0, 0, 0]))                           // kdc-options: none
                + explicit(1, principal(NameType.principal, client.split(separator: "/").map(String.init)))
                + explicit(2, string(realm))
                + explicit(3, principal(NameType.serviceInstance, ["krbtgt", realm]))
                + explicit(5, tlv(0x18, Array(till.generalizedTime.utf8)))     // till
                + explicit(7, integer(Int64(nonce & 0x7FFF_FFFF)))
                + explicit(8, sequence(etypes.flatMap { integer(Int64($0)) })))
        let request = sequence(explicit(1, integer(5)) + explicit(2, integer(10)) + explicit(4, body))
        return tlv(0x6A, request)                                             // [APPLICATION 10]
    }

    private static func principal(_ type: Int32, _ components: [String]) -> [UInt8] {
        sequence(explicit(0, integer(Int64(type))) + explicit(1, sequence(components.flatMap(string))))
    }

    private static func string(_ text: String) -> [UInt8] { tlv(0x1B, Array(text.utf8)) }  // GeneralString
    private static func sequence(_ content: [UInt8]) -> [UInt8] { tlv(0x30, content) }
    private static func explicit(_ number: UInt8, _ content: [UInt8]) -> [UInt8] { tlv(0xA0 | number, content) }

    /// Minimal two's-complement INTEGER.
    private static func integer(_ value: Int64) -> [UInt8] {
        var bytes = withUnsafeBytes(of: value.bigEndian) { Array($0) }
        while bytes.count > 1 && ((bytes[0] == 0 && bytes[1] & 0x80 == 0) || (bytes[0] == 0xFF && bytes[1] & 0x80 != 0)) {
            bytes.removeFirst()
        }
        return tlv(0x02, bytes)
    }

    private static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var out = [tag]
        if content.count < 0x80 {
            out.append(UInt8(content.count))
        } else {
            let length = withUnsafeBytes(of: UInt32(content.count).bigEndian) { Array($0.drop { $0 == 0 }) }
            out.append(0x80 | UInt8(length.count))
            out += length
        }
        return out + content
    }
}
