/// A per-source limit on a cheap, unauthenticated act (the STARTTLS word):
/// one token bucket per source network, /24 for IPv4 and /56 for IPv6 as
/// HoldBudget counts them, so one host or subnet that sends STARTTLS in a
/// loop is refused long before it drains the service side's shared budget.
/// Pure: the caller gives the address and the time.
public struct SourceRate: Sendable {
    public var perMinute: Int
    private var buckets: [[UInt8]: TokenBucket] = [:]

    public init(perMinute: Int) {
        self.perMinute = perMinute
    }

    /// True (and counted) when `address` may act now.
    public mutating func admit(address: [UInt8], now: Double) -> Bool {
        let key = HoldBudget.prefix(of: address)
        var bucket = buckets[key] ?? TokenBucket(perMinute: perMinute)
        if bucket.perMinute != perMinute { bucket.setRate(perMinute) }
        defer { buckets[key] = bucket }
        return bucket.take(now: now)
    }

    /// Buckets full again (idle for a minute) are forgotten.
    public mutating func prune(now: Double) {
        buckets = buckets.filter { now - ($0.value.lastSeen ?? now) < 60 }
    }

    public var sourceCount: Int { buckets.count }
}
