/// KXOVER realms are DNS-style and upper case (spec §2.3): `EXAMPLE.ORG` lives
/// at `example.org`.
public enum RealmName {
    /// Upper-case letters, digits and hyphens in dot-separated labels of 1–63
    /// characters, no hyphen at either end of a label, at least two labels,
    /// at most 253 characters.
    public static func isValid(_ realm: String) -> Bool {
        let bytes = Array(realm.utf8)
        guard (3...253).contains(bytes.count) else { return false }
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        for label in labels {
            guard (1...63).contains(label.count),
                  label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-"),
                  label.allSatisfy({ isUpper($0) || isDigit($0) || $0 == UInt8(ascii: "-") })
            else { return false }
        }
        return true
    }

    /// The DNS domain of a realm: its name in lower case.
    public static func domain(of realm: String) -> String {
        realm.lowercased()
    }

    /// The realm a domain stands for: its name in upper case, without a root dot.
    public static func realm(ofDomain domain: String) -> String {
        var name = domain
        if name.hasSuffix(".") { name.removeLast() }
        return name.uppercased()
    }

    private static func isUpper(_ c: UInt8) -> Bool { c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") }
    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
}
