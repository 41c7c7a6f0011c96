import KXOver

/// The line protocol between krb5kdc's hostrealm module
/// (libkxover-hostrealm.so, Sources/CHostRealmModule) and kxoverd, on an
/// AF_UNIX stream socket, one question per connection:
///
///     request:  HOST LF                 1-253 octets of A-Z a-z 0-9 . - _, at least one dot
///     answer:   REALM LF                the realm DNSSEC vouches for (upper-case DNS-style)
///           or  "no" [SP REASON] LF     anything else: not secure, bogus, unknown, busy ...
///
/// after which kxoverd closes the connection. A line is at most 256 octets
/// with its LF; nothing may follow it. "no" can never be a realm (realms are
/// upper case), and the module takes anything but a well-formed realm line
/// as "no" (KRB5_PLUGIN_NO_HANDLE: the KDC goes on as without the module).
public enum HostRealmProtocol {
    /// The longest line either side sends, LF included.
    public static let maximumLine = 256

    public enum Request: Equatable, Sendable {
        /// A complete, well-formed question: the host, lower case, no root dot.
        case host(String)
        /// A complete line that is no host name (or more than one line).
        case malformed
        /// No LF yet and still within the limit.
        case incomplete
    }

    /// Reads what a client sent so far.
    public static func request(_ bytes: [UInt8]) -> Request {
        guard let lf = bytes.firstIndex(of: UInt8(ascii: "\n")) else {
            return bytes.count >= maximumLine ? .malformed : .incomplete
        }
        guard lf + 1 == bytes.count, lf < maximumLine else { return .malformed }
        let line = bytes[..<lf]
        guard let host = HostName.normalized(String(decoding: line, as: UTF8.self)),
              line.allSatisfy({ $0 < 0x80 }) else { return .malformed }
        return .host(host)
    }

    /// The answer line for a realm DNSSEC vouched for; "no" if it is not a valid realm.
    public static func answer(realm: String) -> [UInt8] {
        RealmName.isValid(realm) ? Array("\(realm)\n".utf8) : refusal("not a DNS-style realm")
    }

    /// `no REASON`: printable ASCII only, cut to fit one line.
    public static func refusal(_ reason: String) -> [UInt8] {
        let printable = reason.utf8.map { (0x20..<0x7F).contains($0) ? $0 : UInt8(ascii: "?") }
        let room = maximumLine - 4   // "no " and LF
        let text = printable.isEmpty ? [] : Array("no ".utf8) + printable.prefix(room)
        return (text.isEmpty ? Array("no".utf8) : text) + [UInt8(ascii: "\n")]
    }
}
