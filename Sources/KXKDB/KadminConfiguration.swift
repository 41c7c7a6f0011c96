import KXOver

/// How to reach one realm's KDC database.
public struct KadminConfiguration: Sendable, Hashable {
    public var realm: String
    public var mode: Kadm5Mode
    /// Local mode: the KDC's kdc.conf and krb5.conf, as krb5kdc reads them.
    /// Remote mode: the krb5.conf used to get the admin ticket.
    public var profileFiles: [String]
    /// Remote mode: kadmind as host or host:port.
    public var adminServer: String?
    /// Recorded as the modifier (local) or authenticated with the keytab (remote).
    public var adminPrincipal: String
    /// Remote mode: the keytab holding `adminPrincipal`'s key.
    public var keytab: String?
    /// The kadm5 policy that marks a principal as kxover's own.
    public var policy: String
    /// How far before a client-side key's till the last ticket under it may
    /// end, at the moment of writing: kxoverd's key check interval, after
    /// which the key maintainer tightens the cap (KeyLifecycle).
    public var ticketLifetimeMargin: Int64 = 0
    /// Only reads: the KDB is a replica's (its own copy, fed by iprop), so the
    /// session leaves the update log alone (no iprop settings are passed).
    public var readOnly = false
    /// At most this many peer realms (`max_peer_realms`): a store that would
    /// create a principal for one more is refused. Nil: no bound.
    public var maxPeerRealms: Int?

    public static let defaultPolicy = "kxover"

    public init(realm: String, mode: Kadm5Mode, profileFiles: [String], adminServer: String? = nil,
                adminPrincipal: String? = nil, keytab: String? = nil, policy: String = defaultPolicy) {
        self.realm = realm
        self.mode = mode
        self.profileFiles = profileFiles
        self.adminServer = adminServer
        self.adminPrincipal = adminPrincipal ?? "kxover/admin@\(realm)"
        self.keytab = keytab
        self.policy = policy
    }
}
