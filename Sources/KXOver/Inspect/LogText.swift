/// Peer-supplied text on its way to a log line, `kxover status` or a metric
/// label: a DNS TXT string, a principal component, a certificate name, a
/// peer's e-text. Control characters, DEL, backslash and non-ASCII bytes
/// become `\xNN`, so a newline cannot forge a log line and an escape sequence
/// cannot reach an administrator's terminal; the result is cut at `limit`.
public enum LogText {
    public static let defaultLimit = 256

    public static func escaped(_ text: String, limit: Int = defaultLimit) -> String {
        var out = ""
        for byte in text.utf8 {
            if (0x20...0x7E).contains(byte) && byte != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
            if out.count > limit { return String(out.prefix(limit - 3)) + "..." }
        }
        return out
    }

    /// True when `text` passes through `escaped` unchanged (short, printable).
    public static func isPlain(_ text: String) -> Bool { escaped(text) == text }
}

private extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
