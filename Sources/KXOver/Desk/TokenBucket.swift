/// A token bucket holding a minute's worth: `perMinute` tokens at most,
/// refilled at `perMinute` a minute, so bursts up to a minute's worth pass.
/// Time only moves forward for it: a clock stepping back refills nothing,
/// and stepping forward again refills only from the latest time seen.
/// The one rate limiter of the desk (global, per zone, per source).
public struct TokenBucket: Sendable, Hashable {
    public private(set) var perMinute: Int
    public private(set) var tokens: Double
    private var last: Double?

    public init(perMinute: Int) {
        self.perMinute = perMinute
        tokens = Double(perMinute)
    }

    /// Takes one token if there is one now; false when the bucket is empty.
    public mutating func take(now: Double) -> Bool {
        refill(now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Brings the tokens up to `now` without taking one.
    public mutating func refill(now: Double) {
        if let last { tokens = min(Double(perMinute), tokens + max(0, now - last) * Double(perMinute) / 60) }
        last = max(last ?? now, now)
    }

    /// The latest time the bucket has seen.
    public var lastSeen: Double? { last }

    /// A new rate; the tokens held are kept, up to the new size.
    public mutating func setRate(_ perMinute: Int) {
        self.perMinute = perMinute
        tokens = min(tokens, Double(perMinute))
    }
}
