/// Who does a principal's periodic key work (pruning, capping, renewing)
/// until when. Every kxoverd beside a KDC of a realm with a shared KDB
/// (LDAP, or several kxoverds writing through one kadmind) runs the key
/// check; the lease, a string attribute on the principal itself, lets one of
/// them act and the others skip it, with nothing shared but the KDB.
public struct MaintenanceLease: Sendable, Hashable, CustomStringConvertible {
    /// Names one kxoverd process: its KDC host and pid.
    public let holder: String
    public let until: KerberosTime

    public init(holder: String, until: KerberosTime) {
        self.holder = holder
        self.until = until
    }

    public var description: String { "\(holder) until \(until)" }
}

/// One periodic key check of one realm's KDB (KeyLifecycle's plans carried
/// out): expired kvnos removed, ticket lifetimes capped at the newest key's
/// till, and the client-side principals that are due for renewal named.
public struct KeyMaintenanceReport: Sendable {
    public var pruned: [(principal: Principal, kvno: UInt32)] = []
    public var capped: [(principal: Principal, seconds: Int64)] = []
    public var renew: [Principal] = []
    /// Traces of stores cut short (a keyless principal, a stray validity record), removed.
    public var leftovers: [String] = []
    /// Per-principal failures; the check goes on with the next principal.
    public var problems: [String] = []
    /// Claimed principals whose lease another kxoverd took over meanwhile: left to it.
    public var lost: [(principal: Principal, lease: MaintenanceLease?)] = []

    public init() {}
}

/// The first half of a key check shared with other kxoverds of the realm:
/// the principals that need work, each with the lease this kxoverd wrote on it.
public struct KeyWorkClaims: Sendable {
    public var claimed: [(principal: Principal, lease: MaintenanceLease)] = []
    /// Principals that need work but hold another kxoverd's unexpired lease.
    public var heldElsewhere: [(principal: Principal, lease: MaintenanceLease)] = []
    public var leftovers: [String] = []
    public var problems: [String] = []

    public init() {}
}
