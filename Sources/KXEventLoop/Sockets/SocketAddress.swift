import Glibc

/// A numeric IPv4 or IPv6 address with a port: where the front end listens,
/// where krb5kdc answers, and who a client is. Hashable by value so a UDP
/// client's retransmissions can be recognised by (address, bytes).
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Family: Sendable, Hashable { case inet, inet6 }

    public let family: Family
    /// 4 bytes for IPv4, 16 for IPv6, network order.
    public let addressBytes: [UInt8]
    public let port: UInt16
    /// IPv6 scope (interface index) for link-local addresses; 0 otherwise.
    public let scopeID: UInt32

    public init(family: Family, addressBytes: [UInt8], port: UInt16, scopeID: UInt32 = 0) {
        precondition(addressBytes.count == (family == .inet ? 4 : 16), "address length does not match its family")
        self.family = family
        self.addressBytes = addressBytes
        self.port = port
        self.scopeID = family == .inet6 ? scopeID : 0
    }

    /// Parses `A.B.C.D:PORT`, `[IPV6]:PORT` or `[IPV6%SCOPE]:PORT`. Numeric
    /// only: a listener or backend address must not depend on name resolution.
    /// Without a port, `defaultPort` is used when given.
    public init(parsing text: String, defaultPort: UInt16? = nil) throws {
        let host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw SocketError.badAddress(text, "missing ']'") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else { throw SocketError.badAddress(text, "expected ':PORT' after ']'") }
                portText = rest.dropFirst()
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else if text.contains(":") {
            throw SocketError.badAddress(text, "write an IPv6 address as [ADDRESS]:PORT")
        } else {
            host = Substring(text)
        }
        let port: UInt16
        if let portText {
            guard let value = UInt16(portText) else { throw SocketError.badAddress(text, "port must be 0-65535") }
            port = value
        } else if let defaultPort {
            port = defaultPort
        } else {
            throw SocketError.badAddress(text, "no port")
        }
        var v4 = in_addr()
        if inet_pton(AF_INET, String(host), &v4) == 1 {
            self.init(family: .inet, addressBytes: withUnsafeBytes(of: &v4) { Array($0) }, port: port)
            return
        }
        var scope: UInt32 = 0
        var bare = host
        if let percent = host.firstIndex(of: "%") {
            let name = String(host[host.index(after: percent)...])
            scope = UInt32(name) ?? if_nametoindex(name)
            guard scope != 0 else { throw SocketError.badAddress(text, "unknown interface '\(name)'") }
            bare = host[..<percent]
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, String(bare), &v6) == 1 else {
            throw SocketError.badAddress(text, "'\(host)' is not a numeric IPv4 or IPv6 address")
        }
        self.init(family: .inet6, addressBytes: withUnsafeBytes(of: &v6) { Array($0) }, port: port, scopeID: scope)
    }

    /// From what accept/recvfrom/getsockname filled in; nil for other families.
    public init?(storage: sockaddr_storage) {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            let v4 = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            var addr = v4.sin_addr
            self.init(family: .inet, addressBytes: withUnsafeBytes(of: &addr) { Array($0) }, port: UInt16(bigEndian: v4.sin_port))
        case AF_INET6:
            let v6 = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            var addr = v6.sin6_addr
            self.init(family: .inet6, addressBytes: withUnsafeBytes(of: &addr) { Array($0) },
                      port: UInt16(bigEndian: v6.sin6_port), scopeID: v6.sin6_scope_id)
        default:
            return nil
        }
    }

    public func withPort(_ port: UInt16) -> SocketAddress {
        SocketAddress(family: family, addressBytes: addressBytes, port: port, scopeID: scopeID)
    }

    public var protocolFamily: Int32 { family == .inet ? AF_INET : AF_INET6 }

    /// Calls `body` with a sockaddr for the socket calls.
    public func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch family {
        case .inet:
            var v4 = sockaddr_in()
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &v4.sin_addr) { $0.copyBytes(from: addressBytes) }
            return withUnsafePointer(to: &v4) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .inet6:
            var v6 = sockaddr_in6()
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            v6.sin6_scope_id = scopeID
            withUnsafeMutableBytes(of: &v6.sin6_addr) { $0.copyBytes(from: addressBytes) }
            return withUnsafePointer(to: &v6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }

    /// `127.0.0.1:88`, `[::1]:88`.
    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        var bytes = addressBytes
        inet_ntop(protocolFamily, &bytes, &text, socklen_t(text.count))
        let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        switch family {
        case .inet: return "\(host):\(port)"
        case .inet6: return scopeID == 0 ? "[\(host)]:\(port)" : "[\(host)%\(scopeID)]:\(port)"
        }
    }
}
