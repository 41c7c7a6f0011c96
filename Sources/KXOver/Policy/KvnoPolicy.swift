/// kvno = 20000 + MMDDS (spec §7.4): month, day and a serial 0–9 of the
/// attempt within that day. Stays below 32768 (16-bit kvno fields) and far
/// from 0, 1 and the wrap-around values; expired keys are easy to spot.
public enum KvnoPolicy {
    public static let base: UInt32 = 20_000
    public static let range: ClosedRange<UInt32> = 20_010...32_319
    public static let maximumSerial = 9

    public static func kvno(month: Int, day: Int, serial: Int) -> UInt32 {
        precondition((0...12).contains(month) && (1...31).contains(day) && (0...maximumSerial).contains(serial))
        return base + UInt32(month * 1_000 + day * 10 + serial)
    }

    /// Month (0–12; 0 is December's alias), day and serial of a policy kvno.
    public static func components(of kvno: UInt32) -> (month: Int, day: Int, serial: Int)? {
        guard range.contains(kvno) else { return nil }
        let v = Int(kvno - base)
        let month = v / 1_000, day = v / 10 % 100, serial = v % 10
        guard (0...12).contains(month), (1...31).contains(day) else { return nil }
        return (month, day, serial)
    }

    /// A kvno the client side will accept from a server: not 0 or 1, below 2^15.
    public static func isAcceptable(_ kvno: UInt32) -> Bool {
        (2...32_767).contains(kvno)
    }

    /// The kvno for `now` with the lowest serial that is not yet used and lies
    /// above today's kvnos already in use. Nil when today's ten serials are spent.
    public static func next(now: KerberosTime, existing: some Sequence<UInt32>) -> UInt32? {
        let c = now.components
        let first = kvno(month: Int(c.month), day: Int(c.day), serial: 0)
        let today = first...(first + UInt32(maximumSerial))
        let usedToday = existing.filter { today.contains($0) }
        let candidate = (usedToday.max().map { $0 + 1 }) ?? first
        return today.contains(candidate) ? candidate : nil
    }

    /// The server's choice (spec §6.5): its own next kvno, or the client's
    /// proposal when that is a later serial of the same day and still unused.
    public static func reply(now: KerberosTime, requested: UInt32, existing: some Sequence<UInt32>) -> UInt32? {
        let existing = Array(existing)
        guard let own = next(now: now, existing: existing) else { return nil }
        let todayFirst = own - UInt32(components(of: own)!.serial)
        if requested > own, requested <= todayFirst + UInt32(maximumSerial), !existing.contains(requested) {
            return requested
        }
        return own
    }

    /// Seconds to wait after a key with serial `serial` before another exchange
    /// for the same principal: about 10 s after serial 0, growing to 24 h at 9.
    public static func backoffSeconds(afterSerial serial: Int) -> Int64 {
        let s = min(max(serial, 0), maximumSerial)
        return Int64(86_400 >> (13 - (3 * s) / 2))
    }
}

/// Key lifetime (spec §7.5): 14 days by default, configurable within 7–31 days.
public enum LifetimePolicy {
    public static let day: Int64 = 86_400
    public static let defaultLifetime: Int64 = 14 * day
    public static let allowed: ClosedRange<Int64> = (7 * day)...(31 * day)
    /// The longest interval a server accepts from a client's offer.
    public static let maximumAccepted: Int64 = 31 * day
    /// RFC 4120's default clock skew.
    public static let clockSkew: Int64 = 300
}
