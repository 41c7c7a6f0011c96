/// The keeper channel (privilege separation, ARCHITECTURE.md section 6a):
/// what the unprivileged engine may ask of the keeper, which alone holds
/// kadm5 and the KDB. Every request names one local realm; the keeper checks
/// each on its own (KeeperRules) whatever the engine says.
public enum KeeperRequest: Sendable {
    /// Which of a realm's KDBs a read goes to: its own, or the read-only view
    /// of a replica (`replica_kdc_profile`).
    public enum Database: UInt8, Sendable {
        case primary = 1
        case replica = 2
    }

    case inspect(realm: String, database: Database, principal: Principal)
    /// An all-or-nothing key store (principal, keys, validity, lifetime cap).
    case store(realm: String, write: CrossoverKeyWrite)
    /// The key check's first half; the keeper uses its own clock and the
    /// realm's configured lifetime, never values from the engine.
    case claimKeyWork(realm: String, holder: String)
    /// The key check's second half, for the principals claimed.
    case maintain(realm: String, claimed: [(principal: Principal, lease: MaintenanceLease)])

    public var realm: String {
        switch self {
        case .inspect(let realm, _, _), .store(let realm, _), .claimKeyWork(let realm, _), .maintain(let realm, _): realm
        }
    }

    /// For the log: the request without key material.
    public var summary: String {
        switch self {
        case .inspect(let realm, let database, let principal): "inspect \(principal) (\(realm)\(database == .replica ? " replica" : ""))"
        case .store(let realm, let write): "store \(write.principal) kvno \(write.kvno) (\(realm))"
        case .claimKeyWork(let realm, _): "claim key work (\(realm))"
        case .maintain(let realm, let claimed): "maintain \(claimed.count) principal(s) (\(realm))"
        }
    }
}

/// The keeper's answer to one request.
public enum KeeperReply: Sendable {
    case entry(KeyStoreEntry)
    case written(KeyWriteOutcome)
    case claims(KeyWorkClaims)
    case report(KeyMaintenanceReport)
    /// The request failed (the KDB refused, was locked, ...) or was refused
    /// by the keeper's own checks.
    case failed(KXError)
}

/// One message on the channel: the engine's request id comes back with the reply.
public struct KeeperEnvelope<Body: Sendable>: Sendable {
    public let id: UInt32
    public let body: Body

    public init(id: UInt32, body: Body) {
        self.id = id
        self.body = body
    }
}
