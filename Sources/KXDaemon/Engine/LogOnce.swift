/// Says whether a repeated event is worth a log line: the first one per key
/// until `until`, so that a flood (STARTTLS words from one network, requests
/// meeting one backoff) costs the log one line per period, not one per event.
struct LogOnce<Key: Hashable> {
    private var quietUntil: [Key: Double] = [:]

    /// True for the first event of `key` since its last period ended; that
    /// event starts a quiet period lasting until `until`.
    mutating func first(_ key: Key, until: Double, now: Double) -> Bool {
        quietUntil = quietUntil.filter { $0.value > now }
        guard quietUntil[key] == nil else { return false }
        quietUntil[key] = until
        return true
    }
}
