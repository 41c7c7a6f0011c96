// Typed views of `pio_data` (spec §1.5). Offsets are relative to pio_data
// (add 8 for the record offset). Every view carries the whole 380-byte union
// and its setters touch only their own field.

/// `pioc_error` (132 bytes): tlserrno i32 @0, message char[128] @4.
public struct ErrorPayload: Hashable, Sendable {
    public static let size = 132
    public fileprivate(set) var data: [UInt8]
    init(data: [UInt8]) { self.data = data }

    public var code: Int32 {
        get { data.i32(at: 0) }
        set { data.setI32(newValue, at: 0) }
    }

    /// Informational, at most 127 bytes (longer text is cut).
    public var message: String {
        get { data.fixedString(at: 4, length: 128) }
        set { data.setFixedString(newValue, at: 4, length: 128) }
    }
}

/// `pioc_ping` (140 bytes): YYYYMMDD_producer char[136] @0, facilities u32 @136.
public struct PingPayload: Hashable, Sendable {
    public static let size = 140
    public fileprivate(set) var data: [UInt8]
    init(data: [UInt8]) { self.data = data }

    public var identity: String {
        get { data.fixedString(at: 0, length: 136) }
        set { data.setFixedString(newValue, at: 0, length: 136) }
    }

    public var facilities: Facilities {
        get { Facilities(rawValue: data.u32(at: 136)) }
        set { data.setU32(newValue.rawValue, at: 136) }
    }
}

/// `pioc_starttls` (304 bytes), shared by STARTTLS, STARTTLS_LOCALID and
/// PLAINTEXT_CONNECT. Byte 9 is padding and is left alone.
public struct StartTLSPayload: Hashable, Sendable {
    public static let size = 304
    public fileprivate(set) var data: [UInt8]
    init(data: [UInt8]) { self.data = data }

    public var flags: StartTLSFlags {
        get { StartTLSFlags(rawValue: data.u32(at: 0)) }
        set { data.setU32(newValue.rawValue, at: 0) }
    }

    /// "Locally defined bits"; none are defined upstream.
    public var local: UInt32 {
        get { data.u32(at: 4) }
        set { data.setU32(newValue, at: 4) }
    }

    /// 6 = TCP, 17 = UDP, 132 = SCTP.
    public var ipProtocol: UInt8 {
        get { data[8] }
        set { data[8] = newValue }
    }

    public var streamID: UInt16 {
        get { data.u16(at: 10) }
        set { data.setU16(newValue, at: 10) }
    }

    /// DoNAI (`domain` or `user@domain`); "" means unknown.
    public var localID: String {
        get { data.fixedString(at: 12, length: 128) }
        set { data.setFixedString(newValue, at: 12, length: 128) }
    }

    public var remoteID: String {
        get { data.fixedString(at: 140, length: 128) }
        set { data.setFixedString(newValue, at: 140, length: 128) }
    }

    public var ctlkey: CtlKey {
        get { CtlKey(bytes: data.bytes(at: 268, length: 16)) }
        set { data.setBytes(newValue.bytes, at: 268, limit: 16) }
    }

    /// IANA service name, NUL-padded (a full 16-byte name has no NUL).
    public var service: String {
        get { data.fixedString(at: 284, length: 16) }
        set {
            data.zero(at: 284, length: 16)
            data.setBytes(Array(newValue.utf8.prefix(16)), at: 284, limit: 16)
        }
    }

    /// Handshake timeout in ms; 0 = pool default, 0xFFFFFFFF = infinite.
    public var timeout: UInt32 {
        get { data.u32(at: 300) }
        set { data.setU32(newValue, at: 300) }
    }
}

/// `pioc_prng` (356 bytes): in1_len i16 @0, in2_len i16 @2, prng_len i16 @4,
/// buffer u8[350] @6 = ctlkey(16) ‖ label(in1_len) ‖ context(max(in2_len, 0)).
///
/// `PIOC_LOCAL_PRNG_LONG` uses the same layout, except that the buffer holds
/// only ctlkey ‖ label and the context (in2_len bytes) arrives in the sealed
/// memfd passed with the record.
public struct PRNGPayload: Hashable, Sendable {
    public static let size = 356
    static let bufferOffset = 6
    public fileprivate(set) var data: [UInt8]
    init(data: [UInt8]) { self.data = data }

    public var in1Length: Int16 {
        get { data.i16(at: 0) }
        set { data.setI16(newValue, at: 0) }
    }

    /// Context length; negative (-1) means "no context" (distinct from empty in TLS <= 1.2).
    public var in2Length: Int16 {
        get { data.i16(at: 2) }
        set { data.setI16(newValue, at: 2) }
    }

    public var prngLength: Int16 {
        get { data.i16(at: 4) }
        set { data.setI16(newValue, at: 4) }
    }

    /// All 350 buffer bytes.
    public var buffer: [UInt8] {
        get { data.bytes(at: Self.bufferOffset, length: TLSPoolProtocol.prngBufferLength) }
        set {
            data.zero(at: Self.bufferOffset, length: TLSPoolProtocol.prngBufferLength)
            data.setBytes(newValue, at: Self.bufferOffset, limit: TLSPoolProtocol.prngBufferLength)
        }
    }

    /// Overwrites the buffer with zeros (the pool does so before writing output).
    public mutating func zeroBuffer() {
        data.zero(at: Self.bufferOffset, length: TLSPoolProtocol.prngBufferLength)
    }

    /// The ctlkey at the start of the buffer.
    public var ctlkey: CtlKey { CtlKey(bytes: data.bytes(at: Self.bufferOffset, length: 16)) }

    /// The label bytes, when `in1_len` is within the buffer.
    public var label: [UInt8]? {
        let length = Int(in1Length)
        guard length >= 0, 16 + length <= TLSPoolProtocol.prngBufferLength else { return nil }
        return data.bytes(at: Self.bufferOffset + 16, length: length)
    }

    /// The in-record context: nil for "no context" or lengths beyond the buffer.
    public var context: [UInt8]? {
        let labelLength = Int(in1Length), contextLength = Int(in2Length)
        guard labelLength >= 0, contextLength >= 0,
              16 + labelLength + contextLength <= TLSPoolProtocol.prngBufferLength else { return nil }
        return data.bytes(at: Self.bufferOffset + 16 + labelLength, length: contextLength)
    }
}

/// `pioc_info` (356 bytes): ctlkey u8[16] @0, info_kind u32 @16, len u16 @20, buffer u8[334] @22.
public struct InfoPayload: Hashable, Sendable {
    public static let size = 356
    static let bufferOffset = 22
    public fileprivate(set) var data: [UInt8]
    init(data: [UInt8]) { self.data = data }

    public var ctlkey: CtlKey {
        get { CtlKey(bytes: data.bytes(at: 0, length: 16)) }
        set { data.setBytes(newValue.bytes, at: 0, limit: 16) }
    }

    public var kind: InfoKind {
        get { InfoKind(rawValue: data.u32(at: 16)) }
        set { data.setU32(newValue.rawValue, at: 16) }
    }

    /// Check length, or 0xFFFF for a query.
    public var length: UInt16 {
        get { data.u16(at: 20) }
        set { data.setU16(newValue, at: 20) }
    }

    public var buffer: [UInt8] {
        get { data.bytes(at: Self.bufferOffset, length: TLSPoolProtocol.infoBufferLength) }
        set {
            data.zero(at: Self.bufferOffset, length: TLSPoolProtocol.infoBufferLength)
            data.setBytes(newValue, at: Self.bufferOffset, limit: TLSPoolProtocol.infoBufferLength)
        }
    }

    /// The first `length` buffer bytes, when `length` is a check length within the buffer.
    public var checkValue: [UInt8]? {
        let n = Int(length)
        guard n < TLSPoolProtocol.infoBufferLength else { return nil }
        return data.bytes(at: Self.bufferOffset, length: n)
    }
}

/// `pioc_control` (148 bytes): flags u32 @0, ctlkey u8[16] @4, name char[128] @20.
public struct ControlPayload: Hashable, Sendable {
    public static let size = 148
    public fileprivate(set) var data: [UInt8]
    init(data: [UInt8]) { self.data = data }

    public var flags: UInt32 {
        get { data.u32(at: 0) }
        set { data.setU32(newValue, at: 0) }
    }

    public var ctlkey: CtlKey {
        get { CtlKey(bytes: data.bytes(at: 4, length: 16)) }
        set { data.setBytes(newValue.bytes, at: 4, limit: 16) }
    }

    public var name: String {
        get { data.fixedString(at: 20, length: 128) }
        set { data.setFixedString(newValue, at: 20, length: 128) }
    }
}

/// `pioc_lidentry` (266 bytes): flags u32 @0, maxlevels u16 @4, timeout u32 @6,
/// localid char[128] @10, remoteid char[128] @138.
public struct LIDEntryPayload: Hashable, Sendable {
    public static let size = 266
    public fileprivate(set) var data: [UInt8]
    init(data: [UInt8]) { self.data = data }

    public var flags: LIDEntryFlags {
        get { LIDEntryFlags(rawValue: data.u32(at: 0)) }
        set { data.setU32(newValue.rawValue, at: 0) }
    }

    public var maxLevels: UInt16 {
        get { data.u16(at: 4) }
        set { data.setU16(newValue, at: 4) }
    }

    /// Response timeout in seconds.
    public var timeout: UInt32 {
        get { data.u32(at: 6) }
        set { data.setU32(newValue, at: 6) }
    }

    public var localID: String {
        get { data.fixedString(at: 10, length: 128) }
        set { data.setFixedString(newValue, at: 10, length: 128) }
    }

    public var remoteID: String {
        get { data.fixedString(at: 138, length: 128) }
        set { data.setFixedString(newValue, at: 138, length: 128) }
    }
}

/// `pioc_pinentry` (380 bytes), kept raw: we neither register nor answer PIN
/// entry. Layout for reference: flags @0, attempt @4, timeout_us @8 (u32 each),
/// pin char[128] @12, prompt char[128] @140, token_manuf char[36] @268,
/// token_model char[20] @304, token_serial char[20] @324, token_label char[36] @344.
public struct PINEntryPayload: Hashable, Sendable {
    public static let size = 380
    public fileprivate(set) var data: [UInt8]
    init(data: [UInt8]) { self.data = data }

    public var flags: UInt32 { data.u32(at: 0) }
    public var attempt: UInt32 { data.u32(at: 4) }
    public var timeoutMicroseconds: UInt32 { data.u32(at: 8) }
}
