import CKerberos
import Foundation
import KXOver

/// The steps of one key store, in the order they run. The keys go last: until
/// they are written the KDC cannot use the principal, so a store cut short
/// anywhere leaves nothing the KDC would act on, and the undo is small.
public enum KeyStoreStep: String, Sendable, CaseIterable {
    case create          // a new principal, with policy kxover and its ticket lifetime cap
    case validity        // the kxover-validity-<kvno> string attribute
    case ticketLifetime  // max_life on an existing client-side principal
    case keys            // the key set of the new kvno
}

/// What puts the KDB back as it was before a store that did not complete.
/// Each undo checks the KDB first and never removes a key: a principal is
/// deleted only while it still holds no key at all.
public enum KeyStoreUndo: Sendable, Hashable, CustomStringConvertible {
    /// The store created the principal: delete it (if it is still keyless and kxover's).
    case deleteCreated(Principal)
    /// The store changed an existing principal: drop the validity record of
    /// `kvno` (if no key of that kvno exists) and put the ticket lifetimes back.
    case restore(Principal, kvno: UInt32, life: Int64, renewable: Int64)

    public var principal: Principal {
        switch self {
        case .deleteCreated(let principal), .restore(let principal, _, _, _): principal
        }
    }

    public var description: String {
        switch self {
        case .deleteCreated(let principal): "delete \(principal), which the store created"
        case .restore(let principal, let kvno, _, _): "remove the validity of kvno \(kvno) from \(principal) and restore its ticket lifetimes"
        }
    }
}

/// A store that failed. `pendingUndo` is set when the KDB could not be put
/// back at once (kadmind went away between calls): the worker retries it
/// before its next job.
public struct KeyStoreFailure: Error, CustomStringConvertible {
    public let cause: Error
    public let pendingUndo: KeyStoreUndo?
    public let undoError: Error?

    public var description: String {
        if let pendingUndo, let undoError {
            return "\(cause); the KDB could not be put back yet (\(undoError)); will \(pendingUndo) as soon as it answers"
        }
        return "\(cause); nothing was kept"
    }
}

extension KadminSession {
    /// One key to write: an etype and where its bytes are.
    public struct RawKey {
        public let etype: Int32
        public let bytes: UnsafeRawBufferPointer

        public init(etype: Int32, bytes: UnsafeRawBufferPointer) {
            self.etype = etype
            self.bytes = bytes
        }
    }

    /// Writes `keys` at `kvno` under `principal`, all or nothing: the principal
    /// (created with the kxover policy when absent), the validity record, the
    /// ticket lifetime cap and the keys, or, on any failure, the KDB as it was.
    /// Keeps the keys of older kvnos (local mode). Refuses a principal that is
    /// not kxover's, wrong key lengths, unknown etypes, and a kvno that already
    /// holds different bytes.
    public func write(_ principal: Principal, kvno: UInt32, keys: [RawKey], from: KerberosTime?, till: KerberosTime?) throws -> KeyWriteOutcome {
        try locked {
            try validate(keys, kvno: kvno, for: principal)
            let parsed = try context.parse(principal)
            defer { context.free(principal: parsed) }
            // The client KDC issues tickets under this key at once (a held request
            // goes on as soon as the exchange ends): none may outlive `till`.
            var cap: Int64?
            if principal.realm == configuration.realm, let till, let now = KerberosTime(secondsSinceEpoch: Int64(time(nil))) {
                cap = KeyLifecycle.ticketLifetimeCap(till: till, now: now, checkInterval: configuration.ticketLifetimeMargin)
            }
            switch try entry(parsed, named: principal, withValidity: false) {
            case .foreign(let policy):
                throw Krb5Failure(code: -1, operation: "writing \(principal)",
                                  message: "principal exists \(policy.map { "with policy \($0)" } ?? "without a policy") and is not managed by kxover; it is left untouched")
            case .absent:
                if let maximum = configuration.maxPeerRealms, let refusal = try peerCapRefusal(creating: principal, maximum: maximum) {
                    throw Krb5Failure(code: -1, operation: "writing \(principal)", message: refusal)
                }
                try storeStep(.create) { try create(parsed, named: principal, ticketLifetime: cap) }
                try undoing(.deleteCreated(principal)) {
                    try storeStep(.validity) { try setValidity(parsed, kvno: kvno, from: from, till: till, named: principal) }
                    try storeStep(.keys) { try setKeys(parsed, kvno: kvno, keys: keys, named: principal) }
                }
                return .written
            case .managed(let set):
                if set.versions.contains(where: { $0.kvno == kvno }) {
                    guard try sameKeys(parsed, kvno: kvno, keys: keys, named: principal) else {
                        throw Krb5Failure(code: -1, operation: "writing \(principal)",
                                          message: "kvno \(kvno) already holds different keys; the new key is dropped")
                    }
                    return .alreadyPresent
                }
                let before = try ticketLifetimes(parsed, named: principal)
                try undoing(.restore(principal, kvno: kvno, life: before.life, renewable: before.renewable)) {
                    try storeStep(.validity) { try setValidity(parsed, kvno: kvno, from: from, till: till, named: principal) }
                    if let cap {
                        try storeStep(.ticketLifetime) { try setTicketLifetime(parsed, seconds: cap, named: principal) }
                    }
                    try storeStep(.keys) {
                        if set.versions.isEmpty || configuration.mode == .remote {
                            // Over kadmind there is no way around MIT's keepold bug: older kvnos are replaced.
                            try setKeys(parsed, kvno: kvno, keys: keys, named: principal)
                        } else {
                            try addKeysKeepingOld(parsed, kvno: kvno, keys: keys, named: principal)
                        }
                    }
                }
                return .written
            }
        }
    }

    /// `max_peer_realms` for a new principal. The kxover-managed principals
    /// are among the KDB's cross-realm names, so while those names alone come
    /// to fewer peers than `maximum` the answer is no refusal, with no entry
    /// read; and while the last listing, with what was created since, stays
    /// well below `maximum` (`PeerCountBound`), not even the names are listed.
    private func peerCapRefusal(creating principal: Principal, maximum: Int) throws -> String? {
        let now = monotonicSeconds()
        if peerCount.admitsWithoutListing(maximum: maximum, now: now) {
            peerCount.creating()
            return nil
        }
        let local = configuration.realm
        let names = try crossRealmNamesUnlocked()
        let peers = Set(names.compactMap { $0.crossoverPeer(local: local) }).count
        peerCount.listed(peers: peers, at: now)
        if peers >= maximum, let refusal = PeerRealmCap.refusal(creating: principal, local: local,
                                                                 existing: try managedKeySetsUnlocked(among: names).map(\.principal),
                                                                 maximum: maximum) {
            return refusal
        }
        peerCount.creating()
        return nil
    }

    private func validate(_ keys: [RawKey], kvno: UInt32, for principal: Principal) throws {
        guard !keys.isEmpty else { throw Krb5Failure(code: -1, operation: "writing \(principal)", message: "no keys to write") }
        guard (1...UInt32(UInt16.max)).contains(kvno) else {
            throw Krb5Failure(code: -1, operation: "writing \(principal)", message: "kvno \(kvno) does not fit the KDB's 16-bit field")
        }
        var seen = Set<Int32>()
        for key in keys {
            guard let length = context.keyLength(of: key.etype) else {
                throw Krb5Failure(code: -1, operation: "writing \(principal)", message: "etype \(key.etype) is not supported by this krb5")
            }
            // MIT stores whatever length it is given; a short key would break every ticket.
            guard key.bytes.count == length else {
                throw Krb5Failure(code: -1, operation: "writing \(principal)",
                                  message: "\(Etype.name(key.etype)) key is \(key.bytes.count) bytes, expected \(length)")
            }
            guard seen.insert(key.etype).inserted else {
                throw Krb5Failure(code: -1, operation: "writing \(principal)", message: "etype \(key.etype) given twice")
            }
        }
    }

    /// Runs `body`; if it throws, undoes what the store did so far and throws
    /// a KeyStoreFailure that says whether the undo is still pending.
    private func undoing(_ undo: KeyStoreUndo, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch {
            do {
                try perform(undo)
                throw KeyStoreFailure(cause: error, pendingUndo: nil, undoError: nil)
            } catch let failure as KeyStoreFailure {
                throw failure
            } catch let undoError {
                throw KeyStoreFailure(cause: error, pendingUndo: undo, undoError: undoError)
            }
        }
    }

    private func storeStep(_ step: KeyStoreStep, _ body: () throws -> Void) throws {
        try faults?.beforeStoreStep(step)
        try body()
    }

    /// Puts back what an incomplete store changed, after checking that the KDB
    /// still shows that store's traces and nothing newer.
    public func undo(_ undo: KeyStoreUndo) throws {
        try locked { try perform(undo) }
    }

    private func perform(_ undo: KeyStoreUndo) throws {
        let principal = undo.principal
        let parsed = try context.parse(principal)
        defer { context.free(principal: parsed) }
        guard case .managed(let set) = try entry(parsed, named: principal, withValidity: false) else { return }
        switch undo {
        case .deleteCreated:
            // Keys there mean another store (another kxoverd of the realm) has since completed.
            guard set.versions.isEmpty else { return }
            let code = api.delete_principal(handle, parsed)
            if code != KADM5_UNK_PRINC { try context.check(kadm5: code, "deleting \(principal) (undoing an incomplete store)") }
        case .restore(_, let kvno, let life, let renewable):
            guard !set.versions.contains(where: { $0.kvno == kvno }) else { return }
            try setValidity(parsed, kvno: kvno, from: nil, till: nil, named: principal)
            try setTicketLifetimes(parsed, life: life, renewable: renewable, named: principal)
        }
    }

    func create(_ parsed: krb5_principal, named principal: Principal, ticketLifetime: Int64?) throws {
        var ent = kadm5_principal_ent_rec()
        ent.principal = parsed
        ent.policy = strdup(configuration.policy)
        defer { free(ent.policy) }
        ent.attributes = 0
        ent.n_key_data = 0   // with KADM5_KEY_DATA: create without keys
        var mask = KADM5_PRINCIPAL | KADM5_POLICY | KADM5_ATTRIBUTES | KADM5_KEY_DATA
        if let ticketLifetime {
            ent.max_life = krb5_deltat(clamping: max(1, ticketLifetime))
            ent.max_renewable_life = ent.max_life
            mask |= KADM5_MAX_LIFE | KADM5_MAX_RLIFE
        }
        var code = api.create_principal_3(handle, &ent, Int(mask), 0, nil, nil)
        if code == KADM5_UNK_POLICY {
            try createPolicy()
            code = api.create_principal_3(handle, &ent, Int(mask), 0, nil, nil)
        }
        try context.check(kadm5: code, "creating \(principal) with policy \(configuration.policy)")
    }

    func ticketLifetimes(_ parsed: krb5_principal, named principal: Principal) throws -> (life: Int64, renewable: Int64) {
        var ent = kadm5_principal_ent_rec()
        try context.check(kadm5: api.get_principal(handle, parsed, &ent, Int(KADM5_PRINCIPAL_NORMAL_MASK)), "reading \(principal)")
        defer { _ = api.free_principal_ent(handle, &ent) }
        return (Int64(ent.max_life), Int64(ent.max_renewable_life))
    }

    func setTicketLifetimes(_ parsed: krb5_principal, life: Int64, renewable: Int64, named principal: Principal) throws {
        var ent = kadm5_principal_ent_rec()
        ent.principal = parsed
        ent.max_life = krb5_deltat(clamping: life)
        ent.max_renewable_life = krb5_deltat(clamping: renewable)
        try context.check(kadm5: api.modify_principal(handle, &ent, Int(KADM5_MAX_LIFE | KADM5_MAX_RLIFE)),
                          "setting max_life of \(principal)")
    }
}

/// Where tests make a store fail between two of its steps (a kadmind that
/// dies, a right withdrawn). kxoverd never sets it.
public struct KadminFaults: Sendable {
    public var beforeStoreStep: @Sendable (KeyStoreStep) throws -> Void

    public init(beforeStoreStep: @escaping @Sendable (KeyStoreStep) throws -> Void) {
        self.beforeStoreStep = beforeStoreStep
    }
}
