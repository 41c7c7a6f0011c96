/// `PIOF_STARTTLS_*` in `pioc_starttls.flags` (spec §3.1).
public struct StartTLSFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let localRoleClient = StartTLSFlags(rawValue: 0x0000_0001)
    public static let localRoleServer = StartTLSFlags(rawValue: 0x0000_0002)
    public static let localRolePeer: StartTLSFlags = [.localRoleClient, .localRoleServer]
    public static let remoteRoleClient = StartTLSFlags(rawValue: 0x0000_0004)
    public static let remoteRoleServer = StartTLSFlags(rawValue: 0x0000_0008)
    public static let remoteRolePeer: StartTLSFlags = [.remoteRoleClient, .remoteRoleServer]
    public static let bothRolesPeer: StartTLSFlags = [.localRolePeer, .remoteRolePeer]
    public static let dtls = StartTLSFlags(rawValue: 0x0000_0100)
    public static let withoutSNI = StartTLSFlags(rawValue: 0x0000_0200)
    public static let ignoreCaches = StartTLSFlags(rawValue: 0x0000_0400)
    public static let requestRemoteID = StartTLSFlags(rawValue: 0x0000_0800)
    public static let ignoreRemoteID = StartTLSFlags(rawValue: 0x0000_1000)
    public static let detach = StartTLSFlags(rawValue: 0x0000_2000)
    public static let fork = StartTLSFlags(rawValue: 0x0000_4000)
    public static let domainRepresentsUser = StartTLSFlags(rawValue: 0x0000_8000)
    public static let localIDCheck = StartTLSFlags(rawValue: 0x0001_0000)
    public static let renegotiate = StartTLSFlags(rawValue: 0x0002_0000)
    public static let localIDOnTheFly = StartTLSFlags(rawValue: 0x0004_0000)

    /// What a KXOVER client sends: we are the TLS client, the peer a server.
    public static let kxoverClient: StartTLSFlags = [.localRoleClient, .remoteRoleServer]
    /// What a KXOVER server sends (add `.localIDCheck` to approve the SNI name).
    public static let kxoverServer: StartTLSFlags = [.localRoleServer, .remoteRoleClient]

    /// The local roles left after the pool's masking: a local role needs the
    /// matching remote role (a local server needs a remote client and vice versa).
    public var effectiveLocalRoles: StartTLSFlags {
        var roles = intersection(.localRolePeer)
        if !contains(.remoteRoleClient) { roles.remove(.localRoleServer) }
        if !contains(.remoteRoleServer) { roles.remove(.localRoleClient) }
        return roles
    }
}

/// `PIOF_LIDENTRY_*` in `pioc_lidentry.flags` (spec §2.6); wire-complete, unused by KXOVER.
public struct LIDEntryFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let skipDBEntry = LIDEntryFlags(rawValue: 0x80)
    public static let skipUser = LIDEntryFlags(rawValue: 0x81)
    public static let skipDomainSame = LIDEntryFlags(rawValue: 0x82)
    public static let skipDomainOneUp = LIDEntryFlags(rawValue: 0x84)
    public static let skipDomainSub = LIDEntryFlags(rawValue: 0x86)
    public static let skipNotRoot = LIDEntryFlags(rawValue: 0x88)
    public static let wantDBEntry = LIDEntryFlags(rawValue: 0x100)
    public static let registrationMask = LIDEntryFlags(rawValue: 0xfff)
    public static let dbEntry = LIDEntryFlags(rawValue: 0x1000)
    public static let dbInsert = LIDEntryFlags(rawValue: 0x2000)
    public static let dbAppend = LIDEntryFlags(rawValue: 0x4000)
    public static let dbReorder = LIDEntryFlags(rawValue: 0x8000)
    public static let new = LIDEntryFlags(rawValue: 0x10_0000)
    public static let onTheFly = LIDEntryFlags(rawValue: 0x20_0000)
}
