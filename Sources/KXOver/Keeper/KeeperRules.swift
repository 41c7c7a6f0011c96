/// What the keeper lets the engine do, checked on every request whatever
/// the engine says (privilege separation, ARCHITECTURE.md section 6a): only
/// crossover principals of a local realm, `krbtgt/X@LOCAL` or
/// `krbtgt/LOCAL@X` with X another well-formed realm; keys of the length
/// their etypes need (checked by the decoder); a kvno and validity within
/// the protocol's policy; and a bounded number of stores a minute per realm.
/// Pure: the caller gives the time.
public struct KeeperRules: Sendable {
    public let localRealms: Set<String>
    /// Stores a minute per realm: far above what the engine's own limits let through.
    public let storesPerMinute: Int
    private var storeBudgets: [String: TokenBucket] = [:]

    public init(localRealms: Set<String>, storesPerMinute: Int) {
        self.localRealms = localRealms
        self.storesPerMinute = storesPerMinute
    }

    /// Why the keeper refuses `request`, or nil when it may be carried out.
    /// A store that passes is counted against the realm's budget.
    public mutating func refusal(of request: KeeperRequest, now: KerberosTime) -> String? {
        let realm = request.realm
        guard localRealms.contains(realm) else { return "realm \"\(realm.prefix(80))\" is not one of this keeper's realms" }
        switch request {
        case .inspect(_, _, let principal):
            return Self.principalRefusal(principal, local: realm)
        case .store(_, let write):
            if let refusal = Self.principalRefusal(write.principal, local: realm) { return refusal }
            guard KvnoPolicy.isAcceptable(write.kvno) else { return "kvno \(write.kvno) is outside \(KvnoPolicy.range)" }
            let life = write.till.secondsSinceEpoch - write.from.secondsSinceEpoch
            guard life > 0, life <= LifetimePolicy.maximumAccepted + LifetimePolicy.clockSkew else {
                return "validity \(write.from) to \(write.till) is not within \(LifetimePolicy.maximumAccepted / LifetimePolicy.day) days"
            }
            guard write.till.secondsSinceEpoch > now.secondsSinceEpoch - LifetimePolicy.clockSkew else {
                return "validity ends \(write.till), in the past"
            }
            var budget = storeBudgets[realm] ?? TokenBucket(perMinute: storesPerMinute)
            defer { storeBudgets[realm] = budget }
            guard budget.take(now: Double(now.secondsSinceEpoch)) else {
                return "more than \(storesPerMinute) key stores for \(realm) in a minute"
            }
            return nil
        case .claimKeyWork(_, let holder):
            return Self.holderRefusal(holder)
        case .maintain(_, let claimed):
            for (principal, lease) in claimed {
                if let refusal = Self.principalRefusal(principal, local: realm) ?? Self.holderRefusal(lease.holder) { return refusal }
            }
            return nil
        }
    }

    /// Nil when `principal` is a crossover principal of `local`'s KDB.
    public static func principalRefusal(_ principal: Principal, local: String) -> String? {
        let shown = "\(principal)".prefix(200)
        guard let instance = principal.name.krbtgtRealm else { return "\(shown) is not a krbtgt/REALM principal" }
        if principal.realm == local, instance == local { return "\(shown) is \(local)'s own ticket-granting principal" }
        guard let peer = principal.crossoverPeer(local: local) else {
            return "\(shown) is neither krbtgt/X@\(local) nor krbtgt/\(local)@X"
        }
        guard RealmName.isValid(peer) else { return "\(shown): \"\(peer.prefix(80))\" is not a well-formed realm" }
        return nil
    }

    /// A lease holder is written as "HOLDER UNTIL": one printable word.
    static func holderRefusal(_ holder: String) -> String? {
        let ok = (1...200).contains(holder.utf8.count) && holder.utf8.allSatisfy { (0x21...0x7E).contains($0) }
        return ok ? nil : "lease holder \"\(holder.prefix(40))\" is not one printable word of at most 200 bytes"
    }
}
