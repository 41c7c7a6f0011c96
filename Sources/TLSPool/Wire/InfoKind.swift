/// `PIOK_INFO_*`: what a `PIOC_INFO_V2` asks for (spec §4.3).
public struct InfoKind: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let peerCertSubject = InfoKind(rawValue: 0x5280_0000)
    public static let peerCertIssuer = InfoKind(rawValue: 0x5280_0001)
    public static let peerCertSubjectAltName = InfoKind(rawValue: 0x5280_0002)
    public static let myCertSubject = InfoKind(rawValue: 0x5280_0100)
    public static let myCertIssuer = InfoKind(rawValue: 0x5280_0101)
    public static let myCertSubjectAltName = InfoKind(rawValue: 0x5280_0102)
    public static let channelBindingTLSUnique = InfoKind(rawValue: 0x5929_0000)
    public static let channelBindingTLSServerEndPoint = InfoKind(rawValue: 0x5929_0001)

    /// Bit that selects our own certificate instead of the peer's.
    public static let myCertificateBit: UInt32 = 0x0000_0100

    /// `len` of a query (as opposed to a check).
    public static let queryLength: UInt16 = 0xFFFF
}
