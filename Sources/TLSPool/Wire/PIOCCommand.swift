/// A `pio_cmd` code (spec §1.6). Only the V2 codes exist; anything else is
/// answered by the pool with ERROR E_TLSPOOL_COMMAND_UNKNOWN.
public struct PIOCCommand: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let success = PIOCCommand(rawValue: 0x0000_0000)
    public static let error = PIOCCommand(rawValue: 0x0000_0001)
    public static let ping = PIOCCommand(rawValue: 0x0000_0010)
    public static let startTLS = PIOCCommand(rawValue: 0x0000_0024)
    public static let startTLSLocalID = PIOCCommand(rawValue: 0x0000_0028)
    public static let pinEntry = PIOCCommand(rawValue: 0x0000_0029)
    public static let plaintextConnect = PIOCCommand(rawValue: 0x0000_002a)
    public static let prng = PIOCCommand(rawValue: 0x0000_002b)
    public static let info = PIOCCommand(rawValue: 0x0000_002c)
    public static let controlDetach = PIOCCommand(rawValue: 0x0000_0100)
    public static let controlReattach = PIOCCommand(rawValue: 0x0000_0101)
    public static let lidEntryRegister = PIOCCommand(rawValue: 0x0000_0200)
    public static let lidEntryCallback = PIOCCommand(rawValue: 0x0000_0201)

    /// `PIOC_LOCAL`: marks private, non-registry commands.
    public static let localBit: UInt32 = 0x8000_0000

    /// Our local extension `PIOC_LOCAL | PIOC_PRNG_V2`: an RFC 5705 export
    /// whose context travels in a sealed memfd passed with SCM_RIGHTS, for
    /// contexts that do not fit the PRNG record. See `PRNGPayload` and
    /// docs/tlspool.md for the exact format.
    public static let prngLong = PIOCCommand(rawValue: localBit | 0x0000_002b)

    public var isLocal: Bool { rawValue & Self.localBit != 0 }

    public static let allKnown: [PIOCCommand] = [
        .success, .error, .ping, .startTLS, .startTLSLocalID, .pinEntry, .plaintextConnect, .prng, .info,
        .controlDetach, .controlReattach, .lidEntryRegister, .lidEntryCallback, .prngLong,
    ]

    /// The upstream macro name, e.g. `PIOC_STARTTLS_V2`.
    public var name: String {
        switch self {
        case .success: "PIOC_SUCCESS_V2"
        case .error: "PIOC_ERROR_V2"
        case .ping: "PIOC_PING_V2"
        case .startTLS: "PIOC_STARTTLS_V2"
        case .startTLSLocalID: "PIOC_STARTTLS_LOCALID_V2"
        case .pinEntry: "PIOC_PINENTRY_V2"
        case .plaintextConnect: "PIOC_PLAINTEXT_CONNECT_V2"
        case .prng: "PIOC_PRNG_V2"
        case .info: "PIOC_INFO_V2"
        case .controlDetach: "PIOC_CONTROL_DETACH_V2"
        case .controlReattach: "PIOC_CONTROL_REATTACH_V2"
        case .lidEntryRegister: "PIOC_LIDENTRY_REGISTER_V2"
        case .lidEntryCallback: "PIOC_LIDENTRY_CALLBACK_V2"
        case .prngLong: "PIOC_LOCAL_PRNG_LONG"
        default: "PIOC_0x" + String(rawValue, radix: 16)
        }
    }

    public var description: String { name }
}
