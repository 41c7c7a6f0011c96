/// What a finished exchange agreed, the same on either side of it.
public struct CrossoverSuccess: Sendable, Hashable {
    public let clientRealm: String
    public let serviceRealm: String
    public let kvno: UInt32
    public let etypes: [Int32]
    public let from: KerberosTime
    public let till: KerberosTime
    public let peerHost: String
    public let stored: KeyWriteOutcome
}
