import KXOver

/// What the pool reads out of an X.509 certificate (DER) by itself: the raw
/// subject and issuer Names and every SubjectAltName GeneralName as its
/// complete TLV (for INFO checks), plus the DNS names, KDC principals
/// (id-pkinit-san) and Common Name derived from them.
public struct CertificateNames: Sendable, Hashable {
    public let subject: [UInt8]
    public let issuer: [UInt8]
    /// Complete GeneralName TLVs from the SubjectAltName extension.
    public let subjectAltNames: [[UInt8]]
    public let dnsNames: [String]
    /// id-pkinit-san otherNames (1.3.6.1.5.2.2) that decode as KRB5PrincipalName.
    public let principals: [Principal]
    public let commonName: String?

    static let subjectAltNameOID: [UInt8] = [0x06, 0x03, 0x55, 0x1D, 0x11]
    static let commonNameOID: [UInt8] = [0x06, 0x03, 0x55, 0x04, 0x03]

    /// nil when the DER is not a certificate we can walk.
    public init?(der: [UInt8]) {
        var top = DERWalk(der)
        guard let certificate = top.next(tag: 0x30) else { return nil }
        var fields = DERWalk(certificate.contents)
        guard let tbs = fields.next(tag: 0x30) else { return nil }
        var walk = DERWalk(tbs.contents)
        _ = walk.next(tag: 0xA0)                          // [0] version, optional
        guard walk.next(tag: 0x02) != nil,                // serialNumber
              walk.next(tag: 0x30) != nil,                // signature AlgorithmIdentifier
              let issuer = walk.next(tag: 0x30),
              walk.next(tag: 0x30) != nil,                // validity
              let subject = walk.next(tag: 0x30),
              walk.next(tag: 0x30) != nil                 // subjectPublicKeyInfo
        else { return nil }
        var extensions: DERWalk.Node?
        while let node = walk.next() {   // [1]/[2] unique identifiers are skipped
            if node.tag == 0xA3 { extensions = node }
        }

        self.subject = Array(subject.encoded)
        self.issuer = Array(issuer.encoded)
        let altNames = extensions.flatMap { Self.subjectAltNames(in: $0.contents) } ?? []
        subjectAltNames = altNames.map { Array($0.encoded) }
        dnsNames = altNames.filter { $0.tag == 0x82 }.compactMap { String(bytes: $0.contents, encoding: .ascii) }
        principals = altNames.filter { $0.tag == 0xA0 }.compactMap(Self.pkinitPrincipal)
        commonName = Self.commonName(in: subject.contents)
    }

    /// The KDC host the certificate vouches for: its first SAN dNSName that
    /// is a plain host name, else the Common Name if it is one (spec kxover §4.2).
    public var certifiedHost: String? {
        dnsNames.first(where: HostName.isPlain) ?? commonName.flatMap { HostName.isPlain($0) ? $0 : nil }
    }

    /// extensions [3] { SEQUENCE OF Extension } → the SAN's GeneralNames.
    private static func subjectAltNames(in explicitExtensions: ArraySlice<UInt8>) -> [DERWalk.Node]? {
        var outer = DERWalk(explicitExtensions)
        guard let list = outer.next(tag: 0x30), let entries = DERWalk.children(of: list.contents) else { return nil }
        for entry in entries where entry.tag == 0x30 {
            var fields = DERWalk(entry.contents)
            guard let oid = fields.next(tag: 0x06), Array(oid.encoded) == subjectAltNameOID else { continue }
            _ = fields.next(tag: 0x01)   // critical, optional
            guard let value = fields.next(tag: 0x04) else { return nil }
            var inner = DERWalk(value.contents)
            guard let names = inner.next(tag: 0x30) else { return nil }
            return DERWalk.children(of: names.contents)
        }
        return nil
    }

    /// otherName [0] { type-id OID, [0] EXPLICIT value } with id-pkinit-san.
    private static func pkinitPrincipal(_ otherName: DERWalk.Node) -> Principal? {
        var walk = DERWalk(otherName.contents)
        guard let oid = walk.next(tag: 0x06), Array(oid.encoded) == KDCGeneralName.pkinitSANOID,
              let value = walk.next(tag: 0xA0) else { return nil }
        return try? Principal(derEncoded: Array(value.contents))
    }

    /// The last CN in the subject (the most specific one), if it is a string.
    private static func commonName(in name: ArraySlice<UInt8>) -> String? {
        var found: String?
        for rdn in DERWalk.children(of: name) ?? [] where rdn.tag == 0x31 {
            for attribute in DERWalk.children(of: rdn.contents) ?? [] where attribute.tag == 0x30 {
                var walk = DERWalk(attribute.contents)
                guard let oid = walk.next(tag: 0x06), Array(oid.encoded) == commonNameOID, let value = walk.next() else { continue }
                if [0x0C, 0x13, 0x16].contains(value.tag) { found = String(bytes: value.contents, encoding: .utf8) }
            }
        }
        return found
    }
}

/// Host-name rules for the names the pool uses for SNI and DANE.
enum HostName {
    /// A plain DNS host name: LDH labels of 1–63 bytes, at most 253 in all, no wildcard.
    static func isPlain(_ name: String) -> Bool {
        let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
        guard !trimmed.isEmpty, trimmed.utf8.count <= 253 else { return false }
        return trimmed.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D }
        }
    }

    /// The domain part of a DoNAI (`user@domain` or `domain`).
    static func domain(ofIdentity identity: String) -> String {
        guard let at = identity.lastIndex(of: "@") else { return identity }
        return String(identity[identity.index(after: at)...])
    }

    static func equal(_ a: String, _ b: String) -> Bool {
        func normal(_ s: String) -> String { (s.hasSuffix(".") ? String(s.dropLast()) : s).lowercased() }
        return normal(a) == normal(b)
    }
}
