/// Fixed sizes and identifiers of the PIOC V2 protocol (spec §1.5).
public enum TLSPoolProtocol {
    /// `sizeof(struct tlspool_command)` on POSIX.
    public static let recordSize = 388
    /// The header before `pio_data`: reqid, cbid, cmd.
    public static let headerSize = 8
    /// `pio_data`: the payload union, sized by `pioc_pinentry`.
    public static let payloadSize = 380
    /// `TLSPOOL_IDENTITY_V2`: the API semantics we speak.
    public static let identityV2 = "20151111api@tlspool.arpa2.net"
    /// `TLSPOOL_CTLKEYLEN`.
    public static let ctlkeyLength = 16
    /// `TLSPOOL_SERVICELEN`.
    public static let serviceLength = 16
    /// `TLSPOOL_PRNGBUFLEN`.
    public static let prngBufferLength = 350
    /// `TLSPOOL_INFOBUFLEN`.
    public static let infoBufferLength = 334
    /// `TLSPOOL_TIMEOUT_DEFAULT` and `TLSPOOL_TIMEOUT_INFINITE` for `pioc_starttls.timeout`.
    public static let timeoutDefault: UInt32 = 0
    public static let timeoutInfinite: UInt32 = 0xFFFF_FFFF
    /// Callback ids the pool hands out (slot + 1 of a 1024-entry table).
    public static let callbackIDRange: ClosedRange<UInt16> = 1...1024
    /// Upper bound on the out-of-band context of `PIOC_LOCAL_PRNG_LONG` (`in2_len` is an int16).
    public static let prngLongContextLimit = Int(Int16.max)
}

/// `PIOF_FACILITY_*`: what PING negotiates (spec §3.3).
public struct Facilities: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let startTLS = Facilities(rawValue: 0x1)
    public static let startGSS = Facilities(rawValue: 0x2)
    public static let startSSH = Facilities(rawValue: 0x4)
    public static let allCurrent: Facilities = [.startTLS]
}
