/// The key store effect port: where crossover keys end up (the KDC database).
/// Completions run on the event-loop thread that owns the exchange.

/// One exchange's result, ready to be written: the exported bytes and how
/// they split into one random-to-key seed per etype, all under one kvno.
public struct CrossoverKeyWrite: Sendable {
    public let principal: Principal
    public let kvno: UInt32
    public let material: KeyMaterial
    public let layout: KeySchedule.Layout
    public let from: KerberosTime
    public let till: KerberosTime

    public init(principal: Principal, kvno: UInt32, material: KeyMaterial, layout: KeySchedule.Layout,
                from: KerberosTime, till: KerberosTime) {
        precondition(material.count >= layout.exportLength, "key material shorter than its layout")
        self.principal = principal
        self.kvno = kvno
        self.material = material
        self.layout = layout
        self.from = from
        self.till = till
    }
}

extension CrossoverKeyWrite {
    /// What an exchange agreed (either side), ready to be written.
    init(_ keyInfo: KeyInfo, _ layout: KeySchedule.Layout, _ material: KeyMaterial) {
        self.init(principal: keyInfo.kxName, kvno: keyInfo.kvno, material: material, layout: layout,
                  from: keyInfo.from, till: keyInfo.till)
    }
}

/// The keys kxover manages for one crossover principal.
public struct ManagedKeySet: Hashable, Sendable {
    public struct Version: Hashable, Sendable {
        public let kvno: UInt32
        public let etypes: [Int32]
        /// The agreed validity; nil when the KDB holds no record of it.
        public let from: KerberosTime?
        public let till: KerberosTime?

        public init(kvno: UInt32, etypes: [Int32], from: KerberosTime?, till: KerberosTime?) {
            self.kvno = kvno
            self.etypes = etypes
            self.from = from
            self.till = till
        }
    }

    public let principal: Principal
    /// Highest kvno first.
    public let versions: [Version]

    public init(principal: Principal, versions: [Version]) {
        self.principal = principal
        self.versions = versions.sorted { $0.kvno > $1.kvno }
    }
}

/// What the store holds under a principal name.
public enum KeyStoreEntry: Hashable, Sendable {
    case absent
    case managed(ManagedKeySet)
    /// Present but not ours (no kxover policy): never touched.
    case foreign(policy: String?)
}

/// How a write went.
public enum KeyWriteOutcome: Hashable, Sendable {
    case written
    /// The same bytes were already stored at this kvno (both realms on one KDB).
    case alreadyPresent
}

public protocol KeyStore: AnyObject {
    func inspect(_ principal: Principal, completion: @escaping (Result<KeyStoreEntry, KXError>) -> Void)
    func store(_ write: CrossoverKeyWrite, completion: @escaping (Result<KeyWriteOutcome, KXError>) -> Void)
}
