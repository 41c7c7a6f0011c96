import CKerberos
import Foundation
import KXEventLoop
import KXOver

/// One open kadm5 handle for one realm. Every call blocks (disk or RPC), so a
/// session lives on a worker thread, never on the event loop; it is not
/// Sendable and must stay on the thread that opened it.
public final class KadminSession {
    /// MIT's kadm5 and libkdb5 keep process-wide state (the DAL, the master key
    /// list, gssrpc) and are built for single-threaded kadmind: two sessions
    /// opening at once on different threads corrupt each other. Every call
    /// into them takes this lock; each takes well under a millisecond.
    static let libraryLock = NSRecursiveLock()

    public let configuration: KadminConfiguration
    let context: Krb5Context
    private let library: Kadm5Library
    var handle: UnsafeMutableRawPointer?
    let modifier: krb5_principal
    /// Local mode: the db2 lock file probed before each write.
    private let lockFile: String?
    /// Test-only fault injection between the steps of a key store.
    public var faults: KadminFaults?
    /// What `max_peer_realms` knows without listing the KDB (under the library lock).
    var peerCount = PeerCountBound()
    /// How many times the KDB's krbtgt names were listed (tests).
    private(set) var nameListings = 0
    /// A monotonic clock in seconds (tests step it).
    var monotonicSeconds: () -> Double = MonotonicClock.seconds

    var api: kx_kadm5_api { library.api }

    public init(_ configuration: KadminConfiguration) throws {
        self.configuration = configuration
        lockFile = Self.lockFilePath(configuration)
        // Opening the KDB waits on its lock too.
        try Self.checkNotLocked(lockFile: lockFile, realm: configuration.realm)
        Self.libraryLock.lock()
        defer { Self.libraryLock.unlock() }
        library = try Kadm5Library.load(configuration.mode)
        context = try Krb5Context(profileFiles: configuration.profileFiles, kdc: configuration.mode == .local)
        modifier = try context.parse(try Self.principal(configuration.adminPrincipal))

        var params = kadm5_config_params()
        params.mask = Int(KADM5_CONFIG_REALM)
        params.realm = strdup(configuration.realm)
        defer { free(params.realm); free(params.admin_server); free(params.stash_file); free(params.mkey_name); free(params.iprop_logfile) }
        if configuration.mode == .local {
            try Self.applyKDCProfile(configuration, to: &params, context: context)
        }
        if configuration.mode == .remote {
            guard let server = configuration.adminServer else {
                throw Krb5Failure(code: -1, operation: "kadm5 remote mode", message: "no admin_server configured for \(configuration.realm)")
            }
            let parts = server.split(separator: ":", maxSplits: 1)
            params.admin_server = strdup(String(parts[0]))
            params.mask |= Int(KADM5_CONFIG_ADMIN_SERVER)
            if parts.count == 2 {
                guard let port = Int32(parts[1]) else {
                    throw Krb5Failure(code: -1, operation: "kadm5 remote mode", message: "bad admin_server port in \(server)")
                }
                params.kadmind_port = port
                params.mask |= Int(KADM5_CONFIG_KADMIND_PORT)
            }
        }
        let client = strdup(configuration.adminPrincipal)
        let service = strdup(KADM5_ADMIN_SERVICE)
        defer { free(client); free(service) }
        var opened: UnsafeMutableRawPointer?
        let code: kadm5_ret_t
        switch configuration.mode {
        case .local:
            // No password or ACL: whoever can read the KDB files and stash is the admin.
            code = api.init_with_password(context.raw, client, nil, service, &params,
                                          krb5_ui_4(KADM5_STRUCT_VERSION), krb5_ui_4(KADM5_API_VERSION_4), nil, &opened)
        case .remote:
            guard let keytab = configuration.keytab else {
                throw Krb5Failure(code: -1, operation: "kadm5 remote mode", message: "no keytab configured for \(configuration.realm)")
            }
            let keytabPath = strdup(keytab)
            defer { free(keytabPath) }
            code = api.init_with_skey(context.raw, client, keytabPath, service, &params,
                                      krb5_ui_4(KADM5_STRUCT_VERSION), krb5_ui_4(KADM5_API_VERSION_4), nil, &opened)
        }
        if code != 0 {
            // deinit runs for a class whose init throws once every property is set: it frees `modifier`.
            throw Krb5Failure(code: code, operation: "opening the \(configuration.realm) KDB (\(configuration.mode.rawValue) mode)",
                              message: context.message(code))
        }
        handle = opened
        // With iprop, writes must also go to the update log the replicas read.
        if configuration.mode == .local, params.iprop_enabled != 0 {
            try context.check(kadm5: Int(api.init_iprop(opened, nil)), "starting the \(configuration.realm) iprop update log")
        }
    }

    deinit {
        Self.libraryLock.lock()
        defer { Self.libraryLock.unlock() }
        if let handle { _ = api.destroy(handle) }
        context.free(principal: modifier)
    }

    /// Runs `body` holding the library lock, after making sure no other
    /// process holds the KDB lock: libkdb5 would wait for it without a bound,
    /// for reads as for writes (kdb5_util load holds it for as long as it runs).
    func locked<T>(_ body: () throws -> T) throws -> T {
        Self.libraryLock.lock()
        defer { Self.libraryLock.unlock() }
        try checkNotLocked()
        return try body()
    }

    /// The kadm5 server library reads the realm's stash, master key and iprop
    /// settings from $KRB5_KDC_PROFILE, not from the context; kxover never
    /// touches the process environment (it is not thread-safe), so it reads
    /// those relations from the configured kdc.conf and passes them itself.
    static func applyKDCProfile(_ configuration: KadminConfiguration, to params: inout kadm5_config_params, context: Krb5Context) throws {
        let realm = configuration.realm
        guard let profile = try configuration.profileFiles.lazy.map({ try ProfileFile(path: $0) })
            .first(where: { !$0.relations(["realms", realm]).isEmpty }) else {
            throw Krb5Failure(code: -1, operation: "opening the \(realm) KDB (local mode)",
                              message: "none of \(configuration.profileFiles.joined(separator: ", ")) has a [realms] \(realm) section")
        }
        func value(_ key: String) -> String? { profile.value(["realms", realm, key]) }
        if let stash = value("key_stash_file") {
            params.stash_file = strdup(stash)
            params.mask |= Int(KADM5_CONFIG_STASH_FILE)
        }
        if let name = value("master_key_name") {
            params.mkey_name = strdup(name)
            params.mask |= Int(KADM5_CONFIG_MKEY_NAME)
        }
        if let type = value("master_key_type") {
            var enctype: krb5_enctype = 0
            let text = strdup(type)
            defer { free(text) }
            if krb5_string_to_enctype(text, &enctype) == 0 {
                params.enctype = enctype
                params.mask |= Int(KADM5_CONFIG_ENCTYPE)
            }
        }
        if configuration.readOnly {
            // A replica's KDB read beside its kpropd: say "no iprop" outright, so
            // no default profile turns the update log on for this session.
            params.iprop_enabled = 0
            params.mask |= Int(KADM5_CONFIG_IPROP_ENABLED)
        } else if let iprop = value("iprop_enable"), ["true", "yes", "on", "1"].contains(iprop.lowercased()) {
            params.iprop_enabled = 1
            params.mask |= Int(KADM5_CONFIG_IPROP_ENABLED)
            if let log = value("iprop_logfile") ?? value("database_name").map({ $0 + ".ulog" }) {
                params.iprop_logfile = strdup(log)
                params.mask |= Int(KADM5_CONFIG_IPROP_LOGFILE)
            }
            if let size = value("iprop_ulogsize").flatMap(UInt32.init) {
                params.iprop_ulogsize = size
                params.mask |= Int(KADM5_CONFIG_ULOG_SIZE)
            }
        }
    }

    /// libkdb5 waits, without a bound, for a KDB lock held by another process
    /// (kdb5_util dump or load, kprop). Before every KDB call, look for such a
    /// holder and give up with its pid after `patience` seconds instead of hanging.
    func checkNotLocked(patience: Double = 1.0) throws {
        try Self.checkNotLocked(lockFile: lockFile, realm: configuration.realm, patience: patience)
    }

    static func checkNotLocked(lockFile: String?, realm: String, patience: Double = 1.0) throws {
        guard let lockFile else { return }
        let deadline = Date().addingTimeInterval(patience)
        while true {
            let holder = kx_lock_holder(lockFile)
            if holder <= 0 { return }   // free, or no lock file to probe
            if Date() >= deadline {
                throw Krb5Failure(code: Int(EAGAIN), operation: "using the \(realm) KDB",
                                  message: "the KDB is locked by process \(holder) (\(lockFile)); nothing was read or written")
            }
            usleep(50_000)
        }
    }

    /// The db2 lock file beside the realm's database (database_name + .kadm5.lock).
    private static func lockFilePath(_ configuration: KadminConfiguration) -> String? {
        guard configuration.mode == .local, let profile = configuration.profileFiles.lazy.compactMap({ try? ProfileFile(path: $0) })
            .first(where: { $0.value(["realms", configuration.realm, "database_name"]) != nil }),
              let database = profile.value(["realms", configuration.realm, "database_name"]) else { return nil }
        return database + ".kadm5.lock"
    }

    static func principal(_ text: String) throws -> Principal {
        // Only for the modifier name; krb5_parse_name does the real parsing.
        let at = text.lastIndex(of: "@")
        let name = at.map { String(text[..<$0]) } ?? text
        let realm = at.map { String(text[text.index(after: $0)...]) } ?? ""
        return Principal(realm: realm, name: PrincipalName(nameType: NameType.principal, components: name.split(separator: "/").map(String.init)))
    }

    // MARK: - Reading

    /// What the KDB holds under `principal`.
    public func entry(_ principal: Principal) throws -> KeyStoreEntry {
        try locked {
        let parsed = try context.parse(principal)
        defer { context.free(principal: parsed) }
        return try entry(parsed, named: principal)
        }
    }

    func entry(_ parsed: krb5_principal, named principal: Principal, withValidity: Bool = true) throws -> KeyStoreEntry {
        var ent = kadm5_principal_ent_rec()
        let code = api.get_principal(handle, parsed, &ent, Int(KADM5_PRINCIPAL_NORMAL_MASK | KADM5_KEY_DATA))
        if code == KADM5_UNK_PRINC { return .absent }
        try context.check(kadm5: code, "reading \(principal)")
        defer { _ = api.free_principal_ent(handle, &ent) }
        let policy = ent.policy.map { String(cString: $0) }
        guard policy == configuration.policy else { return .foreign(policy: policy) }
        var etypesByKvno: [UInt32: [Int32]] = [:]
        for i in 0..<Int(ent.n_key_data) {
            let key = ent.key_data[i]
            etypesByKvno[UInt32(key.key_data_kvno), default: []].append(Int32(key.key_data_type.0))
        }
        let validity = withValidity ? try validities(parsed, named: principal) : [:]
        let versions = etypesByKvno.map { kvno, etypes in
            ManagedKeySet.Version(kvno: kvno, etypes: etypes, from: validity[kvno]?.from, till: validity[kvno]?.till)
        }
        return .managed(ManagedKeySet(principal: principal, versions: versions))
    }

    /// Every principal `krbtgt/*` this KDB holds under the kxover policy.
    public func managedKeySets() throws -> [ManagedKeySet] {
        try locked { try managedKeySetsUnlocked() }
    }

    func managedKeySetsUnlocked() throws -> [ManagedKeySet] {
        try managedKeySetsUnlocked(among: crossRealmNamesUnlocked())
    }

    /// Those of `names` kxover manages (one entry read each).
    func managedKeySetsUnlocked(among names: [Principal]) throws -> [ManagedKeySet] {
        var sets: [ManagedKeySet] = []
        for principal in names {
            if case .managed(let set) = try entry(principal) { sets.append(set) }
        }
        return sets.sorted { $0.principal.description < $1.principal.description }
    }

    /// Every `krbtgt/X@Y` name in the KDB with X ≠ Y, managed by kxover or
    /// not: one listing, no entry read.
    func crossRealmNamesUnlocked() throws -> [Principal] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var count: Int32 = 0
        nameListings += 1
        let pattern = strdup("krbtgt/*@*")
        defer { free(pattern) }
        try context.check(kadm5: api.get_principals(handle, pattern, &names, &count), "listing krbtgt principals")
        defer { _ = api.free_name_list(handle, names, count) }
        return (0..<Int(count)).compactMap { i in
            guard let name = names?[i], let principal = KadminSession.parsePrincipal(String(cString: name)) else { return nil }
            // The realm's own krbtgt/REALM@REALM is never a crossover key; not
            // reading it spares kadmind ACLs the right to inspect it.
            return principal.name.krbtgtRealm == principal.realm ? nil : principal
        }
    }

    /// `krbtgt/B@A` text to a principal with NT-SRV-INST; nil for other shapes.
    public static func parsePrincipal(_ text: String) -> Principal? {
        guard let at = text.lastIndex(of: "@") else { return nil }
        let components = text[..<at].split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard components.count == 2, components[0] == "krbtgt" else { return nil }
        return Principal(realm: String(text[text.index(after: at)...]), name: .krbtgt(components[1]))
    }

    // MARK: - Validity records (principal string attributes)

    /// MIT keeps no per-key lifetime; kxover records each kvno's agreed
    /// validity as a string attribute on the principal, so it lives in the
    /// KDB itself and travels with kprop/iprop.
    static let validityPrefix = "kxover-validity-"

    func validities(_ parsed: krb5_principal, named principal: Principal) throws -> [UInt32: (from: KerberosTime, till: KerberosTime)] {
        var strings: UnsafeMutablePointer<krb5_string_attr>?
        var count: Int32 = 0
        try context.check(kadm5: api.get_strings(handle, parsed, &strings, &count), "reading attributes of \(principal)")
        defer { _ = api.free_strings(handle, strings, count) }
        var result: [UInt32: (KerberosTime, KerberosTime)] = [:]
        for i in 0..<Int(count) {
            let key = String(cString: strings![i].key), value = String(cString: strings![i].value)
            guard key.hasPrefix(Self.validityPrefix), let kvno = UInt32(key.dropFirst(Self.validityPrefix.count)) else { continue }
            let parts = value.split(separator: " ")
            guard parts.count == 2, let from = try? KerberosTime(String(parts[0])), let till = try? KerberosTime(String(parts[1])) else { continue }
            result[kvno] = (from, till)
        }
        return result
    }

    func setValidity(_ parsed: krb5_principal, kvno: UInt32, from: KerberosTime?, till: KerberosTime?, named principal: Principal) throws {
        let key = strdup(Self.validityPrefix + String(kvno))
        let value = from.flatMap { f in till.map { strdup("\(f) \($0)") } } ?? nil
        defer { free(key); free(value) }
        try context.check(kadm5: api.set_string(handle, parsed, key, value), "recording the validity of \(principal) kvno \(kvno)")
    }

    // MARK: - Writing

    /// The marker policy is empty: it sets no password rules, it only says "kxover's".
    func createPolicy() throws {
        var policy = kadm5_policy_ent_rec()
        policy.policy = strdup(configuration.policy)
        defer { free(policy.policy) }
        let code = api.create_policy(handle, &policy, Int(KADM5_POLICY))
        if code != KADM5_DUP { try context.check(kadm5: code, "creating the kadm5 policy \(configuration.policy)") }
    }

    private func withKeyData<R>(_ keys: [RawKey], kvno: UInt32, _ body: (UnsafeMutablePointer<kadm5_key_data>) throws -> R) rethrows -> R {
        let data = UnsafeMutablePointer<kadm5_key_data>.allocate(capacity: keys.count)
        defer { data.deallocate() }
        for (i, key) in keys.enumerated() {
            var entry = kadm5_key_data()
            entry.kvno = krb5_kvno(kvno)
            entry.key.magic = krb5_magic(KV5M_KEYBLOCK)
            entry.key.enctype = krb5_enctype(key.etype)
            entry.key.length = UInt32(key.bytes.count)
            entry.key.contents = UnsafeMutablePointer(mutating: key.bytes.baseAddress!.assumingMemoryBound(to: krb5_octet.self))
            entry.salt.type = krb5_int16(KRB5_KDB_SALTTYPE_NORMAL)
            data[i] = entry
        }
        return try body(data)
    }

    func setKeys(_ parsed: krb5_principal, kvno: UInt32, keys: [RawKey], named principal: Principal) throws {
        try withKeyData(keys, kvno: kvno) { data in
            try context.check(kadm5: api.setkey_principal_4(handle, parsed, 0, data, Int32(keys.count)),
                              "setting \(keys.count) key(s) at kvno \(kvno) on \(principal)")
        }
    }

    func addKeysKeepingOld(_ parsed: krb5_principal, kvno: UInt32, keys: [RawKey], named principal: Principal) throws {
        var raw = keys.map { key in
            kx_raw_key(enctype: krb5_enctype(key.etype), contents: key.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                       length: UInt32(key.bytes.count))
        }
        try context.check(kx_kdb_add_keys(context.raw, parsed, krb5_kvno(kvno), &raw, Int32(raw.count), modifier),
                          "adding kvno \(kvno) to \(principal) (keeping older kvnos)")
    }

    func sameKeys(_ parsed: krb5_principal, kvno: UInt32, keys: [RawKey], named principal: Principal) throws -> Bool {
        var stored: UnsafeMutablePointer<kadm5_key_data>?
        var count: Int32 = 0
        try context.check(kadm5: api.get_principal_keys(handle, parsed, krb5_kvno(kvno), &stored, &count),
                          "reading kvno \(kvno) of \(principal) to compare")
        defer { _ = api.free_kadm5_key_data(context.raw, count, stored) }
        guard Int(count) == keys.count else { return false }
        for key in keys {
            let match = (0..<Int(count)).contains { i in
                let block = stored![i].key
                return Int32(block.enctype) == key.etype && Int(block.length) == key.bytes.count
                    && memcmp(block.contents, key.bytes.baseAddress!, key.bytes.count) == 0
            }
            if !match { return false }
        }
        return true
    }

    /// The bare kadm5_setkey_principal_4 call on an existing principal, with
    /// none of kxover's checks: the baseline `scripts/bench` compares writes to.
    public func bareSetKey(_ principal: Principal, kvno: UInt32, keys: [RawKey]) throws {
        try locked {
            let parsed = try context.parse(principal)
            defer { context.free(principal: parsed) }
            try setKeys(parsed, kvno: kvno, keys: keys, named: principal)
        }
    }

    // MARK: - Removing

    /// Removes one kvno (or the whole principal when it was the last one, or
    /// when `kvno` is nil). Only principals under the kxover policy.
    public func revoke(_ principal: Principal, kvno: UInt32? = nil) throws {
        try locked {
        let parsed = try context.parse(principal)
        defer { context.free(principal: parsed) }
        let versions: [ManagedKeySet.Version]
        switch try entry(parsed, named: principal) {
        case .absent:
            throw Krb5Failure(code: Int(KADM5_UNK_PRINC), operation: "revoking \(principal)", message: "no such principal")
        case .foreign(let policy):
            throw Krb5Failure(code: -1, operation: "revoking \(principal)",
                              message: "not managed by kxover (policy \(policy ?? "none")); left untouched")
        case .managed(let set):
            versions = set.versions
        }
        guard let kvno, versions.count > 1 else {
            if let kvno, !versions.contains(where: { $0.kvno == kvno }) {
                throw Krb5Failure(code: -1, operation: "revoking \(principal)", message: "no kvno \(kvno)")
            }
            try context.check(kadm5: api.delete_principal(handle, parsed), "deleting \(principal)")
            return
        }
        guard versions.contains(where: { $0.kvno == kvno }) else {
            throw Krb5Failure(code: -1, operation: "revoking \(principal)", message: "no kvno \(kvno)")
        }
        switch configuration.mode {
        case .local:
            try context.check(kx_kdb_remove_kvno(context.raw, parsed, krb5_kvno(kvno), modifier), "removing kvno \(kvno) of \(principal)")
        case .remote:
            // kadmind can only purge from the bottom: keys below a kvno.
            guard versions.last?.kvno == kvno, let next = versions.dropLast().last?.kvno else {
                throw Krb5Failure(code: -1, operation: "revoking \(principal) kvno \(kvno)",
                                  message: "over kadmind only the oldest kvno or the whole principal can be revoked")
            }
            try context.check(kadm5: api.purgekeys(handle, parsed, Int32(next)), "purging kvnos below \(next) of \(principal)")
        }
        try setValidity(parsed, kvno: kvno, from: nil, till: nil, named: principal)
        }
    }

    /// Sets the principal's maximum ticket (and renewable) lifetime, so the KDC
    /// issues no ticket under it that outlives the key (MIT caps a ticket's
    /// endtime by max_life). Only kxover's principals; `seconds` ≥ 1 (0 would
    /// mean "no limit" to MIT).
    public func capTicketLifetime(_ principal: Principal, seconds: Int64) throws {
        try locked {
        let parsed = try context.parse(principal)
        defer { context.free(principal: parsed) }
        guard case .managed = try entry(parsed, named: principal, withValidity: false) else {
            throw Krb5Failure(code: -1, operation: "capping ticket lifetime of \(principal)", message: "not managed by kxover; left untouched")
        }
        try setTicketLifetime(parsed, seconds: seconds, named: principal)
        }
    }

    func setTicketLifetime(_ parsed: krb5_principal, seconds: Int64, named principal: Principal) throws {
        let life = max(1, seconds)
        try setTicketLifetimes(parsed, life: life, renewable: life, named: principal)
    }

    /// The principal's max_life and max_renewable_life in seconds (0: no limit).
    public func ticketLifetimes(_ principal: Principal) throws -> (life: Int64, renewable: Int64) {
        try locked {
            let parsed = try context.parse(principal)
            defer { context.free(principal: parsed) }
            return try ticketLifetimes(parsed, named: principal)
        }
    }

    /// Removes every kvno whose validity ended before `now`, across all managed
    /// principals; deletes principals left without keys. Returns what went.
    @discardableResult
    public func pruneExpired(now: KerberosTime) throws -> [(Principal, UInt32)] {
        var removed: [(Principal, UInt32)] = []
        for set in try managedKeySets() {
            let expired = set.versions.filter { ($0.till.map { $0 < now }) ?? false }
            guard !expired.isEmpty else { continue }
            if expired.count == set.versions.count {
                try revoke(set.principal)
            } else {
                for version in expired.sorted(by: { $0.kvno < $1.kvno }) {
                    try revoke(set.principal, kvno: version.kvno)
                }
            }
            removed += expired.map { (set.principal, $0.kvno) }
        }
        return removed
    }

    // MARK: - Verification

    /// The stored key bytes of one kvno, for comparing two KDBs in tests and
    /// `kxover show --compare`; never logged. Needs the `e` right over kadmind.
    public func storedKeys(_ principal: Principal, kvno: UInt32) throws -> [(etype: Int32, digest: [UInt8])] {
        try locked {
        let parsed = try context.parse(principal)
        defer { context.free(principal: parsed) }
        var stored: UnsafeMutablePointer<kadm5_key_data>?
        var count: Int32 = 0
        try context.check(kadm5: api.get_principal_keys(handle, parsed, krb5_kvno(kvno), &stored, &count), "reading kvno \(kvno) of \(principal)")
        defer { _ = api.free_kadm5_key_data(context.raw, count, stored) }
        return (0..<Int(count)).map { i in
            let block = stored![i].key
            return (Int32(block.enctype), context.digest(UnsafeRawBufferPointer(start: block.contents, count: Int(block.length))))
        }
        }
    }
}
