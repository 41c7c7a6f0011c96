/// What the periodic key check decides for one crossover principal (spec
/// §7.5), from the KDB's view of it and the clock. Pure: the daemon carries
/// the decisions out.
public enum KeyLifecycle {
    public struct Plan: Equatable, Sendable {
        /// kvnos whose `till` has passed: remove them.
        public var expired: [UInt32] = []
        /// Start a renewal exchange now (client side only: the client KDC
        /// issues tickets under this key, so it asks for the next one).
        public var renew = false
        /// The longest ticket lifetime the KDC may issue under this principal
        /// until the next check, so that no ticket outlives the newest key's
        /// `till` (MIT caps endtime by the principal's max_life, not by its
        /// expiration). nil when no key is valid.
        public var ticketLifetimeCap: Int64?

        public init(expired: [UInt32] = [], renew: Bool = false, ticketLifetimeCap: Int64? = nil) {
            self.expired = expired
            self.renew = renew
            self.ticketLifetimeCap = ticketLifetimeCap
        }
    }

    /// When to renew: with a quarter of the lifetime left, and never less
    /// than two check intervals before `till` (a renewal may fail once).
    public static func renewalLead(lifetime: Int64, checkInterval: Int64) -> Int64 {
        max(lifetime / 4, 2 * checkInterval)
    }

    /// The longest ticket the KDC may issue under a key valid until `till`, so
    /// that none issued before the next check (`checkInterval` away) outlives
    /// it; never below 1 s, since MIT reads a max_life of 0 as "no limit".
    public static func ticketLifetimeCap(till: KerberosTime, now: KerberosTime, checkInterval: Int64) -> Int64 {
        max(1, till.secondsSinceEpoch - now.secondsSinceEpoch - checkInterval)
    }

    /// `localRealm` is the realm whose KDB holds `set`; `lifetime` is what
    /// that realm offers in exchanges; `checkInterval` the time to the next check.
    public static func plan(_ set: ManagedKeySet, localRealm: String, now: KerberosTime,
                            lifetime: Int64, checkInterval: Int64) -> Plan {
        var plan = Plan()
        plan.expired = set.versions.filter { version in version.till.map { $0 <= now } ?? false }.map(\.kvno).sorted()
        let live = set.versions.filter { version in version.till.map { $0 > now } ?? true }
        // A kvno without a validity record (written by hand or by an older kxover) is not timed.
        let newestTill = live.compactMap(\.till).max()
        // Only the client realm's KDC issues tickets under krbtgt/SERVICE@CLIENT.
        guard set.principal.realm == localRealm, let newestTill, live.allSatisfy({ $0.till != nil }) else { return plan }
        plan.ticketLifetimeCap = ticketLifetimeCap(till: newestTill, now: now, checkInterval: checkInterval)
        plan.renew = newestTill.secondsSinceEpoch - now.secondsSinceEpoch <= renewalLead(lifetime: lifetime, checkInterval: checkInterval)
        return plan
    }
}
