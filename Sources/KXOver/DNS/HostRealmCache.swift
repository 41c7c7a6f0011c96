/// What kxoverd remembers about hosts' realms, so that krb5kdc's hostrealm
/// module can be answered from memory alone (issue 19, item 4): the KDC calls
/// the module synchronously on its single loop, so a question must never wait
/// for DNS.
///
/// A realm DNSSEC vouched for is kept `realmTTL` seconds; every "no" (no
/// record, insecure, bogus, conflicting realms, a timeout or resolver error)
/// `refusalTTL` seconds, so that a host asked about again and again, or a zone
/// whose servers answer slowly, costs one lookup per `refusalTTL` and not one
/// per question. The two kinds are kept apart, each under its own capacity,
/// so that a flood of random names (all "no") can push out only other "no"s,
/// never a realm users rely on. Pure: the caller passes the time in.
public struct HostRealmCache: Sendable {
    public enum Answer: Equatable, Sendable {
        /// The realm a Secure `_kerberos` TXT record names.
        case realm(String)
        /// No realm, with the reason (for logs and the module's "no" line).
        case no(String)
    }

    public struct Policy: Equatable, Sendable {
        /// How long a realm is reused (`hostrealm_cache_ttl`).
        public var realmTTL: Double
        /// How long a "no" is reused (`hostrealm_negative_ttl`).
        public var refusalTTL: Double
        /// Hosts kept per kind (realms, refusals).
        public var capacity: Int

        public static let maximumTTL: Double = 3600
        public static let maximumRefusalTTL: Double = 300

        public init(realmTTL: Double = 60, refusalTTL: Double = 10, capacity: Int = 1024) {
            self.realmTTL = min(max(realmTTL, 0), Self.maximumTTL)
            self.refusalTTL = min(max(refusalTTL, 0), Self.maximumRefusalTTL)
            self.capacity = max(capacity, 1)
        }
    }

    public let policy: Policy
    private struct Entry: Sendable {
        var answer: Answer
        var expires: Double
    }
    private var realms: [String: Entry] = [:]
    private var refusals: [String: Entry] = [:]

    public init(policy: Policy = Policy()) {
        self.policy = policy
    }

    /// Hosts remembered now (expired entries may still count until replaced).
    public var count: Int { realms.count + refusals.count }
    public var realmCount: Int { realms.count }
    public var refusalCount: Int { refusals.count }

    /// The cache's name for a host: lower case, no root dot.
    public static func key(_ host: String) -> String {
        (host.hasSuffix(".") ? String(host.dropLast()) : host).lowercased()
    }

    /// What is known about `host` at `now`, or nil (never asked, or expired).
    public func answer(for host: String, now: Double) -> Answer? {
        let key = Self.key(host)
        if let entry = realms[key], entry.expires > now { return entry.answer }
        if let entry = refusals[key], entry.expires > now { return entry.answer }
        return nil
    }

    /// Records the outcome of a lookup of `host` finished at `now`.
    public mutating func record(_ host: String, _ answer: Answer, now: Double) {
        let key = Self.key(host)
        switch answer {
        case .realm:
            refusals[key] = nil
            guard policy.realmTTL > 0 else { return }
            Self.makeRoom(&realms, for: key, capacity: policy.capacity, now: now)
            realms[key] = Entry(answer: answer, expires: now + policy.realmTTL)
        case .no:
            realms[key] = nil
            guard policy.refusalTTL > 0 else { return }
            Self.makeRoom(&refusals, for: key, capacity: policy.capacity, now: now)
            refusals[key] = Entry(answer: answer, expires: now + policy.refusalTTL)
        }
    }

    /// Drops expired entries, then the one expiring soonest, until `key` fits.
    private static func makeRoom(_ entries: inout [String: Entry], for key: String, capacity: Int, now: Double) {
        guard entries[key] == nil, entries.count >= capacity else { return }
        entries = entries.filter { $0.value.expires > now }
        while entries.count >= capacity, let soonest = entries.min(by: { $0.value.expires < $1.value.expires })?.key {
            entries[soonest] = nil
        }
    }
}
