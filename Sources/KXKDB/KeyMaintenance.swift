import KXOver

extension KadminSession {
    /// Carries out every principal's plan (one kxoverd per KDB).
    public func maintainKeys(now: KerberosTime, lifetime: Int64, checkInterval: Int64) throws -> KeyMaintenanceReport {
        var report = KeyMaintenanceReport()
        do { report.leftovers = try removeLeftovers(now: now) } catch { report.problems.append("removing traces of cut-short stores: \(error)") }
        for set in try managedKeySets() {
            carryOut(KeyLifecycle.plan(set, localRealm: configuration.realm, now: now, lifetime: lifetime, checkInterval: checkInterval),
                     for: set, into: &report)
        }
        return report
    }

    /// A key check in two halves, for kxoverds sharing one KDB. This first
    /// half removes leftovers and writes a lease `holder` until
    /// `now + leaseSeconds` on each principal whose plan has work, unless
    /// another holder's lease is still running. Another kxoverd may do the
    /// same at the same moment (the KDB offers no compare-and-set), so the
    /// second half, run after a pause longer than the gap between this
    /// check's read and write of a lease, acts only where the lease read
    /// then is still this one: the last writer wins, and every kxoverd sees
    /// the same last writer.
    public func claimKeyWork(now: KerberosTime, lifetime: Int64, checkInterval: Int64, holder: String, leaseSeconds: Int64) throws -> KeyWorkClaims {
        var claims = KeyWorkClaims()
        do { claims.leftovers = try removeLeftovers(now: now) } catch { claims.problems.append("removing traces of cut-short stores: \(error)") }
        for set in try managedKeySets() {
            do {
                guard try hasWork(set, now: now, lifetime: lifetime, checkInterval: checkInterval) else { continue }
                try locked {
                    let parsed = try context.parse(set.principal)
                    defer { context.free(principal: parsed) }
                    if let current = try lease(parsed, named: set.principal), current.holder != holder, current.until > now {
                        claims.heldElsewhere.append((set.principal, current))
                        return
                    }
                    let mine = MaintenanceLease(holder: holder, until: now.adding(seconds: leaseSeconds))
                    try setLease(parsed, mine, named: set.principal)
                    claims.claimed.append((set.principal, mine))
                }
            } catch {
                claims.problems.append("\(set.principal): \(error)")
            }
        }
        return claims
    }

    /// The second half: each claimed principal whose lease is still the one
    /// this kxoverd wrote, planned afresh (the KDB may have changed since).
    public func maintainKeys(claimed: [(principal: Principal, lease: MaintenanceLease)], now: KerberosTime,
                             lifetime: Int64, checkInterval: Int64) throws -> KeyMaintenanceReport {
        var report = KeyMaintenanceReport()
        for (principal, mine) in claimed {
            do {
                let current = try lease(principal)
                guard current == mine else {
                    report.lost.append((principal, current))
                    continue
                }
                guard case .managed(let set) = try entry(principal) else { continue }
                carryOut(KeyLifecycle.plan(set, localRealm: configuration.realm, now: now, lifetime: lifetime, checkInterval: checkInterval),
                         for: set, into: &report)
            } catch {
                report.problems.append("\(principal): \(error)")
            }
        }
        return report
    }

    /// Whether the plan for `set` would change anything now.
    private func hasWork(_ set: ManagedKeySet, now: KerberosTime, lifetime: Int64, checkInterval: Int64) throws -> Bool {
        let plan = KeyLifecycle.plan(set, localRealm: configuration.realm, now: now, lifetime: lifetime, checkInterval: checkInterval)
        if !plan.expired.isEmpty || plan.renew { return true }
        guard let cap = plan.ticketLifetimeCap else { return false }
        return try ticketLifetimes(set.principal).life != cap
    }

    private func carryOut(_ plan: KeyLifecycle.Plan, for set: ManagedKeySet, into report: inout KeyMaintenanceReport) {
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
}

extension KadmKeyStore {
    /// Runs `maintainKeys` on the realm's kadm5 worker; the report comes back on the loop.
    public func maintain(now: KerberosTime, lifetime: Int64, checkInterval: Int64,
                         completion: @escaping (Result<KeyMaintenanceReport, KXError>) -> Void) {
        submitJob(completion) { session in try session.maintainKeys(now: now, lifetime: lifetime, checkInterval: checkInterval) }
    }

    /// `claimKeyWork` on the worker.
    public func claimKeyWork(now: KerberosTime, lifetime: Int64, checkInterval: Int64, holder: String, leaseSeconds: Int64,
                             completion: @escaping (Result<KeyWorkClaims, KXError>) -> Void) {
        submitJob(completion) { session in
            try session.claimKeyWork(now: now, lifetime: lifetime, checkInterval: checkInterval, holder: holder, leaseSeconds: leaseSeconds)
        }
    }

    /// `maintainKeys(claimed:)` on the worker.
    public func maintain(claimed: [(principal: Principal, lease: MaintenanceLease)], now: KerberosTime, lifetime: Int64,
                         checkInterval: Int64, completion: @escaping (Result<KeyMaintenanceReport, KXError>) -> Void) {
        submitJob(completion) { session in
            try session.maintainKeys(claimed: claimed, now: now, lifetime: lifetime, checkInterval: checkInterval)
        }
    }
}
