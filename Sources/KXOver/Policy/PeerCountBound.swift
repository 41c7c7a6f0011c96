/// An upper bound on how many peer realms a realm's KDB holds kxover keys
/// with, so `max_peer_realms` need not list the KDB before every new
/// principal (a listing is one pass over the whole KDB: a store cost that
/// grew with every principal the realm held).
///
/// A listing counts the distinct peers among the KDB's cross-realm names
/// (kxover's principals are among them); each principal created afterwards
/// adds one; deletions only lower the truth. Another writer's creations (a
/// second kxoverd on the same KDB) show only at the next listing, so the
/// bound is trusted for `lifetime` seconds and only while it stays a tenth
/// of the cap below it; otherwise the KDB is listed again. Pure: time in.
public struct PeerCountBound: Sendable {
    /// How long a listing is trusted (seconds).
    public static let lifetime = 2.0

    private var listedPeers = 0
    private var listedAt: Double?
    private var createdSince = 0

    public init() {}

    /// True when one more peer certainly stays within `maximum`, without
    /// listing; `now` is a monotonic clock in seconds.
    public func admitsWithoutListing(maximum: Int, now: Double) -> Bool {
        guard let listedAt, now >= listedAt, now - listedAt < Self.lifetime else { return false }
        return listedPeers + createdSince + 1 <= maximum - Self.margin(below: maximum)
    }

    /// A listing found `peers` distinct peers at `now`.
    public mutating func listed(peers: Int, at now: Double) {
        listedPeers = peers
        listedAt = now
        createdSince = 0
    }

    /// A principal for a new peer is being created.
    public mutating func creating() {
        createdSince += 1
    }

    /// How far below the cap the bound must stay to be trusted: a tenth of
    /// it, at least one.
    public static func margin(below maximum: Int) -> Int {
        max(1, maximum / 10)
    }
}
