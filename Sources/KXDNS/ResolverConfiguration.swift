import Foundation

/// What the validating resolver needs: a trust anchor, and optionally where to
/// send queries. Nothing else is required; the defaults validate from the
/// root with Debian's root key and recurse from the root servers.
public struct ResolverConfiguration: Sendable, Hashable {
    /// DS or DNSKEY records in presentation format ("test. IN DS 1234 13 2 ...").
    public var trustAnchors: [String]
    /// Files of DS/DNSKEY records (e.g. /usr/share/dns/root.key).
    public var trustAnchorFiles: [String]
    /// Send every query to these resolvers ("127.0.0.1@53535", "::1").
    public var forwarders: [String]
    /// Send queries for a zone to its authoritative servers: (zone, address).
    public var stubs: [Stub]
    /// Extra unbound options, as `ub_ctx_set_option` takes them ("local-zone:", "test. transparent").
    public var options: [Option]
    /// Per-query bound: past it the lookup fails and is cancelled.
    public var queryTimeout: Double

    public struct Stub: Sendable, Hashable {
        public var zone: String
        public var address: String
        public init(zone: String, address: String) { self.zone = zone; self.address = address }
    }

    public struct Option: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    public static let debianRootKey = "/usr/share/dns/root.key"

    public init(trustAnchors: [String] = [], trustAnchorFiles: [String] = [], forwarders: [String] = [],
                stubs: [Stub] = [], options: [Option] = [], queryTimeout: Double = 5) {
        self.trustAnchors = trustAnchors
        self.trustAnchorFiles = trustAnchorFiles
        self.forwarders = forwarders
        self.stubs = stubs
        self.options = options
        self.queryTimeout = queryTimeout
    }

    /// Safe defaults: the root anchor from dns-root-data when present.
    public static var defaults: ResolverConfiguration {
        var configuration = ResolverConfiguration()
        if FileManager.default.isReadableFile(atPath: debianRootKey) {
            configuration.trustAnchorFiles = [debianRootKey]
        }
        return configuration
    }

    /// Problems libunbound would only report at the first query.
    func validationProblems() -> [String] {
        var problems: [String] = []
        for anchor in trustAnchors {
            let words = anchor.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { $0.uppercased() }
            guard let typeIndex = words.firstIndex(where: { $0 == "DS" || $0 == "DNSKEY" }), (1...3).contains(typeIndex),
                  words.count >= typeIndex + (words[typeIndex] == "DS" ? 5 : 5) else {
                problems.append("trust anchor \"\(anchor)\" is not a DS or DNSKEY record (NAME [TTL] [IN] DS|DNSKEY ...)")
                continue
            }
        }
        for file in trustAnchorFiles where !FileManager.default.isReadableFile(atPath: file) {
            problems.append("trust anchor file \(file) is not readable")
        }
        return problems
    }

    /// Servers on loopback need unbound's do-not-query-localhost switched
    /// off (it refuses 127.0.0.0/8 and ::1 by default); kxoverd does that
    /// itself, so a local forwarder needs no dns_option.
    var usesLoopbackServers: Bool {
        (forwarders + stubs.map(\.address)).contains(where: Self.isLoopback)
    }

    /// "ADDRESS[@PORT]" as libunbound takes servers, for ADDRESS in
    /// 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104.
    static func isLoopback(_ server: String) -> Bool {
        let address = String(server.split(separator: "@", maxSplits: 1).first ?? "")
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
        return bytes == [UInt8](repeating: 0, count: 15) + [1] || (mapped && bytes[12] == 127)
    }
}
