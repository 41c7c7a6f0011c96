/// The global limits on exchanges (spec §7.4's per-realm backoff guards one
/// peer; these guard the KDC against many peers at once, e.g. a flood of
/// freshly made realms): at most `maxInFlight` exchanges at a time, and new
/// ones started at most `perMinute` a minute (a token bucket holding one
/// minute's worth, so bursts up to that size pass). Pure: the caller gives the
/// time and the number in flight.
public struct ExchangeAdmission: Sendable {
    public let maxInFlight: Int
    public let perMinute: Int
    private var bucket: TokenBucket

    public init(maxInFlight: Int, perMinute: Int) {
        self.maxInFlight = maxInFlight
        self.perMinute = perMinute
        bucket = TokenBucket(perMinute: perMinute)
    }

    /// nil when a new exchange may start now (and it is counted); else why not.
    public mutating func admit(inFlight: Int, now: Double) -> String? {
        bucket.refill(now: now)
        guard inFlight < maxInFlight else { return "\(inFlight) exchanges in flight, the limit is \(maxInFlight)" }
        guard bucket.take(now: now) else { return "more than \(perMinute) new exchanges in the last minute" }
        return nil
    }
}
