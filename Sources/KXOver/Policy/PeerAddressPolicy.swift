/// Where the client side of an exchange may connect (issue 19, item 5).
///
/// An exchange is triggered by any user's request, before anyone is
/// authenticated, and the SRV target and its addresses come from the remote
/// realm's DNS: without a filter, a zone of an attacker's choosing makes the
/// KDC host connect to its own loopback services (kadmind on 127.0.0.1:749),
/// to the private network behind it, or to a cloud metadata service, and the
/// time a request is held tells open ports from closed ones. So addresses of
/// the special classes below are refused unless `peer_address_allow` names
/// their class; and each exchange tries a bounded number of SRV targets and
/// addresses. Pure: address text in, decisions out.
public struct PeerAddressPolicy: Equatable, Sendable {
    /// The special address classes; anything else is a public address, always allowed.
    public enum AddressClass: String, CaseIterable, Sendable, Comparable {
        /// 127.0.0.0/8, ::1
        case loopback
        /// RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 6598 shared space 100.64/10, ULA fc00::/7
        case `private`
        /// 169.254/16 (but the metadata address), fe80::/10
        case linkLocal = "link-local"
        /// 224/4, ff00::/8
        case multicast
        /// 0.0.0.0/8, ::
        case unspecified
        /// 169.254.169.254 and fd00:ec2::254: cloud instance metadata services
        case metadata
        /// 240/4 (255.255.255.255 included), and anything that is not an address
        case reserved

        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    /// SRV targets tried per exchange (in RFC 2782 order; the rest are never looked up).
    public static let maximumTargets = 4
    /// Addresses connected to per exchange, all targets together. Each connect
    /// may take its 5 s bound, and the whole exchange has 30 s: six fit.
    public static let maximumAddresses = 6

    /// The classes `peer_address_allow` names.
    public var allowed: Set<AddressClass>

    public init(allowed: Set<AddressClass> = []) {
        self.allowed = allowed
    }

    /// Why `address` may not be connected to, or nil when it may.
    public func refusal(_ address: String) -> String? {
        guard let bytes = Self.bytes(of: address) else { return "\(address) is not an IP address" }
        guard let kind = Self.classify(bytes), !allowed.contains(kind) else { return nil }
        return "\(address) is a \(kind.rawValue) address (peer_address_allow does not name \(kind.rawValue))"
    }

    /// The class of an address given as 4 or 16 bytes, or nil for a public one.
    public static func classify(_ bytes: [UInt8]) -> AddressClass? {
        if bytes.count == 16 {
            // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): the IPv4 address decides.
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return classify(Array(bytes[12...])) }
            if bytes.allSatisfy({ $0 == 0 }) { return .unspecified }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return .loopback }
            if bytes[0..<12].allSatisfy({ $0 == 0 }) { return classify(Array(bytes[12...])) }
            if bytes == [0xFD, 0x00, 0x0E, 0xC2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54] { return .metadata }
            if bytes[0] & 0xFE == 0xFC { return .private }
            if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return .linkLocal }
            if bytes[0] == 0xFF { return .multicast }
            return nil
        }
        guard bytes.count == 4 else { return .reserved }
        let (a, b) = (bytes[0], bytes[1])
        switch a {
        case 0: return .unspecified
        case 10: return .private
        case 127: return .loopback
        case 100 where b & 0xC0 == 64: return .private
        case 169 where b == 254: return bytes == [169, 254, 169, 254] ? .metadata : .linkLocal
        case 172 where b & 0xF0 == 16: return .private
        case 192 where b == 168: return .private
        case 224...239: return .multicast
        case 240...255: return .reserved
        default: return nil
        }
    }

    /// The 4 or 16 bytes of a dotted-quad IPv4 or a textual IPv6 address
    /// (RFC 4291 §2.2, `::` and a trailing dotted quad included), or nil.
    public static func bytes(of text: String) -> [UInt8]? {
        if !text.contains(":") { return ipv4(Substring(text)) }
        var head: [UInt8] = [], tail: [UInt8] = []
        // Split at "::" (at most one).
        let utf8 = Array(text.utf8)
        let doubles = utf8.indices.dropLast().filter { utf8[$0] == UInt8(ascii: ":") && utf8[$0 + 1] == UInt8(ascii: ":") }
        guard doubles.count <= 1 else { return nil }
        var parts: [String]
        if let at = doubles.first {
            parts = [String(decoding: utf8[..<at], as: UTF8.self), String(decoding: utf8[(at + 2)...], as: UTF8.self)]
        } else {
            parts = [text]
        }
        let compressed = parts.count == 2
        if !compressed { parts.append("") }
        func groups(_ part: String, allowV4: Bool) -> [UInt8]? {
            guard !part.isEmpty else { return [] }
            var out: [UInt8] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, field) in fields.enumerated() {
                if allowV4 && i == fields.count - 1 && field.contains(".") {
                    guard let v4 = ipv4(field) else { return nil }
                    out += v4
                    continue
                }
                guard (1...4).contains(field.count), let value = UInt16(field, radix: 16) else { return nil }
                out += [UInt8(value >> 8), UInt8(value & 0xFF)]
            }
            return out
        }
        guard let h = groups(parts[0], allowV4: !compressed), let t = groups(parts[1], allowV4: true) else { return nil }
        head = h
        tail = t
        if compressed {
            guard head.count + tail.count <= 14 else { return nil }
            return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
        }
        return head.count == 16 ? head : nil
    }

    private static func ipv4(_ text: Substring) -> [UInt8]? {
        let fields = text.split(separator: ".", omittingEmptySubsequences: false)
        guard fields.count == 4 else { return nil }
        var out: [UInt8] = []
        for field in fields {
            guard (1...3).contains(field.count), field.allSatisfy(\.isASCII), let value = UInt8(field, radix: 10),
                  field.count == 1 || field.first != "0" else { return nil }
            out.append(value)
        }
        return out
    }
}
