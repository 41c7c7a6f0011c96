/// A per-source limit on a cheap, unauthenticated act (the STARTTLS word):
/// one token bucket per source network, /24 for IPv4 and /56 for IPv6 as
/// HoldBudget counts them, so one host or subnet that sends STARTTLS in a
/// loop is refused long before it drains the service side's shared budget.
/// Pure: the caller gives the address and the time.
public struct SourceRate: Sendable {
    public var perMinute: Int
    private var buckets: [[UInt8]: (tokens: Double, last: Double)] = [:]

    public init(perMinute: Int) {
        self.perMinute = perMinute
    }

    /// True (and counted) when `address` may act now.
    public mutating func admit(address: [UInt8], now: Double) -> Bool {
        let key = HoldBudget.prefix(of: address)
        let rate = Double(perMinute)
        var bucket = buckets[key] ?? (rate, now)
        bucket.tokens = min(rate, bucket.tokens + max(0, now - bucket.last) * rate / 60)
        bucket.last = max(bucket.last, now)
        defer { buckets[key] = bucket }
        guard bucket.tokens >= 1 else { return false }
        bucket.tokens -= 1
        return true
    }

    /// Buckets full again (idle for a minute) are forgotten.
    public mutating func prune(now: Double) {
        buckets = buckets.filter { now - $0.value.last < 60 }
    }

    public var sourceCount: Int { buckets.count }
}
