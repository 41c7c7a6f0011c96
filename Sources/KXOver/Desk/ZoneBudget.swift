/// Fairness between DNS zones. Anyone with one signed zone can mint realms
/// below it (`A1.EVIL.EXAMPLE`, `A2.EVIL.EXAMPLE`, ...), each with its own
/// SRV, TLSA and self-made certificate, all of which pass DANE. Per parent
/// zone (a realm's name without its first label) this budget caps
///
/// - how many *different* peer realms may cross in an hour (`newRealmsPerHour`):
///   the KDB cannot grow by more than that per zone and hour, and
/// - how many exchanges may start in a minute (`exchangesPerMinute`, a token
///   bucket): one zone cannot use up the global `max_exchanges_per_minute`
///   that everyone else shares.
///
/// Pure: the caller gives the realm and the time. A realm seen in the last
/// hour is not new again (re-crossing a known peer costs only its tokens).
public struct ZoneBudget: Sendable {
    public struct Limits: Sendable, Hashable {
        public var newRealmsPerHour: Int
        public var exchangesPerMinute: Int

        public init(newRealmsPerHour: Int, exchangesPerMinute: Int) {
            self.newRealmsPerHour = newRealmsPerHour
            self.exchangesPerMinute = exchangesPerMinute
        }

        /// 20 new realms per zone and hour is far above what any federation
        /// adds; a zone's exchanges are a quarter of the global per-minute
        /// limit, so that at least four zones must be flooding before the
        /// global bucket runs dry.
        public static func defaults(globalPerMinute: Int) -> Limits {
            Limits(newRealmsPerHour: 20, exchangesPerMinute: max(1, globalPerMinute / 4))
        }
    }

    /// Which cap refused, as a metrics label.
    public enum Cap: String, Sendable {
        case newRealms = "zone_new_realms"
        case exchanges = "zone_exchanges"
    }

    public struct Refusal: Error, Sendable, Hashable {
        public let cap: Cap
        public let zone: String
        public let detail: String
    }

    private struct Zone {
        var realms: [String: Double] = [:]   // realm → last seen
        var exchanges: TokenBucket
    }

    public var limits: Limits
    private var zones: [String: Zone] = [:]

    public init(limits: Limits) {
        self.limits = limits
    }

    /// The parent zone of a realm: its name without the first label
    /// (`A1.EVIL.EXAMPLE` → `EVIL.EXAMPLE`; a two-label realm's parent is its
    /// top-level label).
    public static func parentZone(of realm: String) -> String {
        let name = realm.uppercased()
        guard let dot = name.firstIndex(of: ".") else { return name }
        return String(name[name.index(after: dot)...])
    }

    /// Admits one exchange with `realm` now, or says which cap refuses.
    public mutating func admit(realm: String, now: Double) -> Result<Void, Refusal> {
        let name = realm.uppercased()
        let key = Self.parentZone(of: name)
        var zone = zones[key] ?? Zone(exchanges: TokenBucket(perMinute: limits.exchangesPerMinute))
        if zone.exchanges.perMinute != limits.exchangesPerMinute { zone.exchanges.setRate(limits.exchangesPerMinute) }
        zone.exchanges.refill(now: now)
        zone.realms = zone.realms.filter { now - $0.value < 3600 }
        defer { zones[key] = zone }
        if zone.realms[name] == nil, zone.realms.count >= limits.newRealmsPerHour {
            return .failure(Refusal(cap: .newRealms, zone: key,
                                    detail: "\(zone.realms.count) realms below \(key) crossed in the last hour, the limit is \(limits.newRealmsPerHour) (max_new_realms_per_zone)"))
        }
        guard zone.exchanges.take(now: now) else {
            return .failure(Refusal(cap: .exchanges, zone: key,
                                    detail: "more than \(limits.exchangesPerMinute) exchanges with realms below \(key) in the last minute (max_exchanges_per_zone_per_minute)"))
        }
        zone.realms[name] = now
        return .success(())
    }

    /// Zones idle for an hour are forgotten, so the map stays as small as
    /// the zones that crossed recently.
    public mutating func prune(now: Double) {
        zones = zones.filter { now - ($0.value.exchanges.lastSeen ?? now) < 3600 }
    }

    public var zoneCount: Int { zones.count }
}
