/// Parsers for the rdata KXOVER reads (wire format, RFC 1035 / 2782 / 6698).
/// All are strict: a malformed record is nil, never a partial value.
public enum DNSRecords {
    /// TXT: the first character-string (draft-vanrein-dnstxt-krb1: the realm).
    public static func firstString(_ rdata: [UInt8]) -> [UInt8]? {
        guard let length = rdata.first.map(Int.init), rdata.count >= 1 + length else { return nil }
        return Array(rdata[1..<(1 + length)])
    }

    public struct SRV: Hashable, Sendable, CustomStringConvertible {
        public let priority: UInt16
        public let weight: UInt16
        public let port: UInt16
        /// Dotted, lower case, without the root dot; "" for "." (no service).
        public let target: String

        public init(priority: UInt16, weight: UInt16, port: UInt16, target: String) {
            self.priority = priority
            self.weight = weight
            self.port = port
            self.target = target
        }

        public var description: String { "\(priority) \(weight) \(port) \(target.isEmpty ? "." : target + ".")" }
    }

    public static func srv(_ rdata: [UInt8]) -> SRV? {
        guard rdata.count >= 7 else { return nil }
        func u16(_ i: Int) -> UInt16 { UInt16(rdata[i]) << 8 | UInt16(rdata[i + 1]) }
        guard let (target, end) = domainName(rdata, from: 6), end == rdata.count else { return nil }
        return SRV(priority: u16(0), weight: u16(2), port: u16(4), target: target)
    }

    /// An uncompressed wire-format name (SRV targets may not be compressed).
    static func domainName(_ bytes: [UInt8], from start: Int) -> (String, Int)? {
        var labels: [String] = []
        var i = start
        var total = 0
        while true {
            guard i < bytes.count else { return nil }
            let length = Int(bytes[i])
            guard length & 0xC0 == 0 else { return nil }   // compression or extended label types
            i += 1
            if length == 0 { break }
            guard i + length <= bytes.count else { return nil }
            total += length + 1
            guard total <= 255 else { return nil }
            let label = bytes[i..<(i + length)]
            guard label.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ".") }) else { return nil }
            labels.append(String(decoding: label, as: UTF8.self).lowercased())
            i += length
        }
        return (labels.joined(separator: "."), i)
    }

    public struct TLSA: Hashable, Sendable, CustomStringConvertible {
        public let usage: UInt8
        public let selector: UInt8
        public let matchingType: UInt8
        public let data: [UInt8]

        public init(usage: UInt8, selector: UInt8, matchingType: UInt8, data: [UInt8]) {
            self.usage = usage
            self.selector = selector
            self.matchingType = matchingType
            self.data = data
        }

        public var description: String { "\(usage) \(selector) \(matchingType) \(Hex.string(data))" }

        /// The rdata again, for handing to a DANE library.
        public var rdata: [UInt8] { [usage, selector, matchingType] + data }
    }

    public static func tlsa(_ rdata: [UInt8]) -> TLSA? {
        guard rdata.count >= 4 else { return nil }
        return TLSA(usage: rdata[0], selector: rdata[1], matchingType: rdata[2], data: Array(rdata[3...]))
    }

    public static func a(_ rdata: [UInt8]) -> String? {
        guard rdata.count == 4 else { return nil }
        return rdata.map(String.init).joined(separator: ".")
    }

    /// AAAA in RFC 5952 form (lower case, longest zero run compressed).
    public static func aaaa(_ rdata: [UInt8]) -> String? {
        guard rdata.count == 16 else { return nil }
        let groups = (0..<8).map { Int(rdata[2 * $0]) << 8 | Int(rdata[2 * $0 + 1]) }
        var bestStart = -1, bestLength = 0, runStart = -1
        for (i, g) in groups.enumerated() {
            if g == 0 {
                if runStart < 0 { runStart = i }
                if i - runStart + 1 > bestLength { bestStart = runStart; bestLength = i - runStart + 1 }
            } else {
                runStart = -1
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestLength >= 2 else { return hex.joined(separator: ":") }
        let head = hex[0..<bestStart].joined(separator: ":")
        let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
        return head + "::" + tail
    }
}
