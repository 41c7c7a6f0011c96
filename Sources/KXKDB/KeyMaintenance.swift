import KXOver

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
}

extension KadminSession {
    public func maintainKeys(now: KerberosTime, lifetime: Int64, checkInterval: Int64) throws -> KeyMaintenanceReport {
        var report = KeyMaintenanceReport()
        do { report.leftovers = try removeLeftovers(now: now) } catch { report.problems.append("removing traces of cut-short stores: \(error)") }
        for set in try managedKeySets() {
            let plan = KeyLifecycle.plan(set, localRealm: configuration.realm, now: now, lifetime: lifetime, checkInterval: checkInterval)
            do {
                if !plan.expired.isEmpty {
                    if plan.expired.count == set.versions.count {
                        try revoke(set.principal)
                    } else {
                        for kvno in plan.expired { try revoke(set.principal, kvno: kvno) }
                    }
                    report.pruned += plan.expired.map { (set.principal, $0) }
                }
                if let cap = plan.ticketLifetimeCap, plan.expired.count < set.versions.count,
                   try ticketLifetimes(set.principal).life != cap {
                    try capTicketLifetime(set.principal, seconds: cap)
                    report.capped.append((set.principal, cap))
                }
                if plan.renew { report.renew.append(set.principal) }
            } catch {
                report.problems.append("\(set.principal): \(error)")
            }
        }
        return report
    }
}

extension KadmKeyStore {
    /// Runs `maintainKeys` on the realm's kadm5 worker; the report comes back on the loop.
    public func maintain(now: KerberosTime, lifetime: Int64, checkInterval: Int64,
                         completion: @escaping (Result<KeyMaintenanceReport, KXError>) -> Void) {
        submitJob(completion) { session in try session.maintainKeys(now: now, lifetime: lifetime, checkInterval: checkInterval) }
    }
}
