/// One `struct tlspool_command` (spec §1.4): 388 bytes, pack(2), little-endian.
///
/// The payload is kept as its raw 380 bytes; the typed views (`error`,
/// `starttls`, `prng`, ...) read and write only their own fields, so bytes a
/// view does not define survive untouched and a record can be echoed back
/// exactly, as the protocol requires of callback responses.
public struct TLSPoolRecord: Hashable, Sendable {
    public var reqid: UInt16
    public var cbid: UInt16
    public var command: PIOCCommand
    /// `pio_data`, always exactly `TLSPoolProtocol.payloadSize` bytes.
    public private(set) var data: [UInt8]

    public init(command: PIOCCommand, reqid: UInt16 = 0, cbid: UInt16 = 0) {
        self.reqid = reqid
        self.cbid = cbid
        self.command = command
        data = [UInt8](repeating: 0, count: TLSPoolProtocol.payloadSize)
    }

    /// Decodes one record; anything but exactly 388 bytes is refused.
    public init<Bytes: Collection>(bytes: Bytes) throws where Bytes.Element == UInt8 {
        let all = Array(bytes)
        guard all.count == TLSPoolProtocol.recordSize else {
            throw TLSPoolWireError.badRecordSize(all.count)
        }
        reqid = all.u16(at: 0)
        cbid = all.u16(at: 2)
        command = PIOCCommand(rawValue: all.u32(at: 4))
        data = Array(all[TLSPoolProtocol.headerSize...])
    }

    /// The 388 bytes to send.
    public func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: TLSPoolProtocol.headerSize)
        bytes.setU16(reqid, at: 0)
        bytes.setU16(cbid, at: 2)
        bytes.setU32(command.rawValue, at: 4)
        return bytes + data
    }

    /// Replaces the whole payload (padded or cut to 380 bytes).
    public mutating func setData(_ bytes: [UInt8]) {
        data = Array(bytes.prefix(TLSPoolProtocol.payloadSize))
            + [UInt8](repeating: 0, count: max(0, TLSPoolProtocol.payloadSize - bytes.count))
    }

    /// Overwrites the payload with zeros (used before writing exporter output).
    public mutating func zeroData() {
        data.zero(at: 0, length: data.count)
    }

    // MARK: - Typed views (each read and write only their own fields)

    public var error: ErrorPayload {
        get { ErrorPayload(data: data) }
        set { data = newValue.data }
    }

    public var ping: PingPayload {
        get { PingPayload(data: data) }
        set { data = newValue.data }
    }

    /// The payload of STARTTLS, STARTTLS_LOCALID and PLAINTEXT_CONNECT.
    public var starttls: StartTLSPayload {
        get { StartTLSPayload(data: data) }
        set { data = newValue.data }
    }

    public var prng: PRNGPayload {
        get { PRNGPayload(data: data) }
        set { data = newValue.data }
    }

    public var info: InfoPayload {
        get { InfoPayload(data: data) }
        set { data = newValue.data }
    }

    public var control: ControlPayload {
        get { ControlPayload(data: data) }
        set { data = newValue.data }
    }

    public var lidEntry: LIDEntryPayload {
        get { LIDEntryPayload(data: data) }
        set { data = newValue.data }
    }

    public var pinEntry: PINEntryPayload {
        get { PINEntryPayload(data: data) }
        set { data = newValue.data }
    }

    /// The typed view that belongs to `command`, for pattern matching.
    public var payload: Payload {
        switch command {
        case .error: .error(error)
        case .ping: .ping(ping)
        case .startTLS, .startTLSLocalID, .plaintextConnect: .starttls(starttls)
        case .prng, .prngLong: .prng(prng)
        case .info: .info(info)
        case .controlDetach, .controlReattach: .control(control)
        case .lidEntryRegister, .lidEntryCallback: .lidEntry(lidEntry)
        default: .raw(data)
        }
    }

    public enum Payload: Hashable, Sendable {
        case error(ErrorPayload)
        case ping(PingPayload)
        case starttls(StartTLSPayload)
        case prng(PRNGPayload)
        case info(InfoPayload)
        case control(ControlPayload)
        case lidEntry(LIDEntryPayload)
        /// PINENTRY, SUCCESS and unknown commands: the bytes as they came.
        case raw([UInt8])
    }

    // MARK: - Builders

    /// An ERROR record (also how an application declines a callback: keep its cbid).
    public static func error(_ code: Int32, _ message: String, reqid: UInt16 = 0, cbid: UInt16 = 0) -> TLSPoolRecord {
        var record = TLSPoolRecord(command: .error, reqid: reqid, cbid: cbid)
        record.error.code = code
        record.error.message = message
        return record
    }

    public static func error(_ code: TLSPoolErrorCode, _ message: String, reqid: UInt16 = 0, cbid: UInt16 = 0) -> TLSPoolRecord {
        error(code.rawValue, message, reqid: reqid, cbid: cbid)
    }
}

extension TLSPoolRecord: CustomStringConvertible {
    /// A one-line summary without secrets: no ctlkey, no PRNG buffer.
    public var description: String {
        var text = "\(command.name) reqid=\(reqid) cbid=\(cbid)"
        switch command {
        case .error: text += " \(TLSPoolErrorCode.name(of: error.code)) \"\(error.message)\""
        case .startTLS, .startTLSLocalID, .plaintextConnect:
            let s = starttls
            text += " flags=0x\(String(s.flags.rawValue, radix: 16)) localid=\"\(s.localID)\" remoteid=\"\(s.remoteID)\""
        case .prng, .prngLong:
            text += " in1=\(prng.in1Length) in2=\(prng.in2Length) out=\(prng.prngLength)"
        case .info: text += " kind=0x\(String(info.kind.rawValue, radix: 16)) len=\(info.length)"
        default: break
        }
        return text
    }
}

public enum TLSPoolWireError: Error, Equatable, Sendable, CustomStringConvertible {
    case badRecordSize(Int)

    public var description: String {
        switch self {
        case .badRecordSize(let size): "a TLS Pool record is \(TLSPoolProtocol.recordSize) bytes, not \(size)"
        }
    }
}
