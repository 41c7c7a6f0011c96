/// KerberosTime: GeneralizedTime `YYYYMMDDHHMMSSZ`, UTC, whole seconds (RFC 4120 §5.2.3).
/// Held as seconds since the Unix epoch so the core needs no calendar library.
public struct KerberosTime: Comparable, Hashable, Sendable, CustomStringConvertible {
    public let secondsSinceEpoch: Int64

    /// Years 0001 through 9999, the range the 4-digit text form can carry.
    public static let validRange: ClosedRange<Int64> = -62_135_596_800...253_402_300_799

    public init?(secondsSinceEpoch: Int64) {
        guard Self.validRange.contains(secondsSinceEpoch) else { return nil }
        self.secondsSinceEpoch = secondsSinceEpoch
    }

    public struct FormatError: Error, Equatable {
        public let reason: String
    }

    public init(generalizedTime text: some Collection<UInt8>) throws {
        let chars = Array(text)
        guard chars.count == 15, chars[14] == UInt8(ascii: "Z") else {
            throw FormatError(reason: "KerberosTime must be 15 characters YYYYMMDDHHMMSSZ")
        }
        var digits: [Int64] = []
        for c in chars[0..<14] {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else {
                throw FormatError(reason: "KerberosTime has a non-digit character")
            }
            digits.append(Int64(c - UInt8(ascii: "0")))
        }
        func number(_ from: Int, _ count: Int) -> Int64 {
            digits[from..<(from + count)].reduce(0) { $0 * 10 + $1 }
        }
        let year = number(0, 4), month = number(4, 2), day = number(6, 2)
        let hour = number(8, 2), minute = number(10, 2), second = number(12, 2)
        guard year >= 1, (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 59 else {
            throw FormatError(reason: "KerberosTime is not a valid calendar time")
        }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        secondsSinceEpoch = days * 86_400 + hour * 3_600 + minute * 60 + second
    }

    public init(_ text: String) throws {
        try self.init(generalizedTime: Array(text.utf8))
    }

    /// Calendar fields in UTC.
    public var components: (year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64) {
        let days = Self.floorDiv(secondsSinceEpoch, 86_400)
        let rest = secondsSinceEpoch - days * 86_400
        let (y, m, d) = Self.civilFromDays(days)
        return (y, m, d, rest / 3_600, rest % 3_600 / 60, rest % 60)
    }

    public var generalizedTime: String {
        let c = components
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return pad(c.year, 4) + pad(c.month, 2) + pad(c.day, 2) + pad(c.hour, 2) + pad(c.minute, 2) + pad(c.second, 2) + "Z"
    }

    public var description: String { generalizedTime }

    public static func < (lhs: KerberosTime, rhs: KerberosTime) -> Bool {
        lhs.secondsSinceEpoch < rhs.secondsSinceEpoch
    }

    /// Adds seconds, clamping to the representable range.
    public func adding(seconds: Int64) -> KerberosTime {
        let (sum, overflow) = secondsSinceEpoch.addingReportingOverflow(seconds)
        let clamped = overflow ? (seconds > 0 ? Self.validRange.upperBound : Self.validRange.lowerBound)
            : min(max(sum, Self.validRange.lowerBound), Self.validRange.upperBound)
        return KerberosTime(secondsSinceEpoch: clamped)!
    }

    // MARK: - Proleptic Gregorian calendar (H. Hinnant's days-from-civil algorithms)

    static func isLeap(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
