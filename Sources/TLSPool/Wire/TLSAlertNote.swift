/// A TLS alert named in the text of one of our pool's ERROR messages. The
/// record stays byte-exact PIOC V2: the code is the one the command has
/// always had, and the note stands at (or near) the start of the message
/// (informational, at most 127 bytes), so a cut never loses it:
///
///     received TLS alert 112 (unrecognized_name): ...     the peer refused, with this alert
///     sent TLS alert 48 (unknown_ca): DANE: ...           we refused the peer's certificate
///     session ended: received TLS alert 45 (certificate_expired)
///
/// A foreign pool's messages simply carry no note.
public struct TLSAlertNote: Hashable, Sendable, CustomStringConvertible {
    public enum Direction: String, Sendable {
        case received, sent
    }

    public let direction: Direction
    /// The AlertDescription (RFC 8446 §6).
    public let code: UInt8
    /// Its RFC name, e.g. `certificate_expired`.
    public let name: String

    public init(_ direction: Direction, code: UInt8, name: String) {
        self.direction = direction
        self.code = code
        self.name = Self.cleanName(name)
    }

    /// `received TLS alert 45 (certificate_expired)`.
    public var description: String { "\(direction.rawValue) TLS alert \(code) (\(name))" }

    /// The note in `message`, if there is one.
    public init?(message: String) {
        for direction in [Direction.received, .sent] {
            let marker = "\(direction.rawValue) TLS alert "
            guard let range = message.range(of: marker) else { continue }
            let rest = message[range.upperBound...]
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard let code = UInt8(digits), rest.dropFirst(digits.count).hasPrefix(" (") else { return nil }
            let name = rest.dropFirst(digits.count + 2).prefix { $0 != ")" }
            self.init(direction, code: code, name: String(name))
            return
        }
        return nil
    }

    /// True for the alerts that say a certificate was not accepted.
    public var isAboutCertificate: Bool {
        // bad_certificate … unknown_ca (42–48), certificate_required (116)
        (42...48).contains(code) || code == 116
    }

    /// A name from any source is kept to [a-z0-9_], at most 40 characters.
    static func cleanName(_ name: String) -> String {
        let kept = name.lowercased().unicodeScalars.filter { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
        let cleaned = String(String.UnicodeScalarView(kept.prefix(40)))
        return cleaned.isEmpty ? "unknown" : cleaned
    }
}
