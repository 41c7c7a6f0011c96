/// Kerberos over TCP (RFC 4120 §7.2.2) with the RFC 5021 extension word and
/// RFC 6251 STARTTLS: constants and the encoders for what we send.
public enum TCPFraming {
    /// High bit of the 4-byte prefix: the other 31 bits are extension flags.
    public static let extensionBit: UInt32 = 0x8000_0000
    /// RFC 6251: extension bit 0 requests STARTTLS.
    public static let startTLSFlag: UInt32 = 0x0000_0001
    /// The flags this implementation supports.
    public static let supportedFlags: UInt32 = startTLSFlag

    public static let startTLSRequest: [UInt8] = [0x80, 0x00, 0x00, 0x01]
    public static let startTLSAccepted: [UInt8] = [0x00, 0x00, 0x00, 0x00]
    public static let probe: [UInt8] = [0x80, 0x00, 0x00, 0x00]

    /// Frame sizes. KX messages are about 300 bytes; the cap stops a peer from
    /// making us buffer much.
    ///
    /// Ordinary KDC traffic (issue 19, item 6): 128 KiB, not MIT krb5kdc's
    /// 1 MiB. The largest message a KDC must take is a TGS-REQ carrying a
    /// ticket (and, with FAST, an armor ticket too) whose authorization data,
    /// a Windows PAC for a user in many groups, is bounded in practice by
    /// Windows' MaxTokenSize of at most 65,535 octets; two such tickets, the
    /// authenticator and PKINIT padata fit in 128 KiB. The same cap bounds
    /// krb5kdc's replies over TCP (one ticket). With 1 MiB, 512 connections
    /// could make kxoverd hold over 1 GiB; with 128 KiB it is bounded by
    /// `FrontEndConfiguration.Limits.bytesPerTCPConnection`.
    public struct Limits: Equatable, Sendable {
        public var minimum: Int
        public var maximum: Int

        public init(minimum: Int, maximum: Int) {
            self.minimum = minimum
            self.maximum = maximum
        }

        public static let kx = Limits(minimum: 10, maximum: 16 * 1024)
        public static let kdcRelay = Limits(minimum: 10, maximum: 128 * 1024)
    }

    /// A 4-byte big-endian length followed by the message.
    public static func frame<Bytes: Collection<UInt8>>(_ message: Bytes) -> [UInt8] {
        precondition(message.count < Int(extensionBit), "a Kerberos TCP frame is below 2^31 bytes")
        var out = bigEndian(UInt32(message.count))
        out.append(contentsOf: message)
        return out
    }

    public static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// The refusal of an RFC 5021 extension, a PROBE or an over-long frame: a
    /// framed KRB-ERROR 61 (KRB_ERR_FIELD_TOOLONG). Its e-data carries the
    /// 4-octet bitmask of the extensions we support, so a probing client learns
    /// that STARTTLS is available; the connection is closed afterwards.
    public static func fieldTooLongRefusal(realm: String, now: KerberosTime, text: String) -> [UInt8] {
        let error = KRBError.make(code: KerberosErrorCode.fieldTooLong, realm: realm, now: now, text: text,
                                  data: bigEndian(supportedFlags))
        return frame(error.derEncoded)
    }
}

/// Incremental reader of what a client sends a KDC over TCP. Accepts bytes in
/// any split; yields one event at a time. Refusals are terminal: after one, the
/// reader yields nothing more and the connection should be closed.
public struct TCPFrameReader {
    public enum Event: Equatable, Sendable {
        /// One complete message (without its length prefix).
        case message([UInt8])
        /// `80 00 00 01`: answer `00 00 00 00`, then TLS. The reader stops here;
        /// anything already buffered belongs to TLS (`takeBuffered()`).
        case startTLS
        /// `80 00 00 00`: which extensions do you support?
        case probe
        /// Any other extension word, or one where extensions are not allowed.
        case unsupportedExtensions(UInt32)
        /// A length above the cap.
        case tooLong(Int)
        /// A length below the minimum.
        case tooShort(Int)
    }

    public let limits: TCPFraming.Limits
    /// False inside TLS: a second STARTTLS or any flag word is refused.
    public let extensionsAllowed: Bool
    private enum State { case framing, handedOff, refused }

    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var state = State.framing

    public init(limits: TCPFraming.Limits, extensionsAllowed: Bool = true) {
        self.limits = limits
        self.extensionsAllowed = extensionsAllowed
    }

    /// True after `.startTLS` or a refusal: no further events.
    public var isStopped: Bool { state != .framing }
    public var bufferedCount: Int { buffer.count - readIndex }

    /// After `.startTLS` bytes keep collecting for `takeBuffered()`; after a
    /// refusal they are dropped.
    public mutating func append<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        guard state != .refused else { return }
        Self.append(bytes, to: &buffer)
    }

    /// Appends in one copy when the bytes are contiguous: callers in other
    /// modules reach `append` unspecialized, where `append(contentsOf:)`
    /// would go byte by byte through the generic witnesses.
    static func append<Bytes: Sequence<UInt8>>(_ bytes: Bytes, to buffer: inout [UInt8]) {
        let copied: Void? = bytes.withContiguousStorageIfAvailable { buffer.append(contentsOf: $0) }
        if copied == nil { buffer.append(contentsOf: bytes) }
    }

    /// The next event, or nil when more bytes are needed (or the reader stopped).
    public mutating func next() -> Event? {
        guard state == .framing, bufferedCount >= 4 else { return nil }
        let word = buffer[readIndex..<(readIndex + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        if word & TCPFraming.extensionBit != 0 {
            readIndex += 4
            let flags = word & ~TCPFraming.extensionBit
            if extensionsAllowed && flags == TCPFraming.startTLSFlag {
                state = .handedOff
                return .startTLS
            }
            if extensionsAllowed && flags == 0 {
                return stop(.probe)
            }
            return stop(.unsupportedExtensions(flags))
        }
        let length = Int(word)
        if length > limits.maximum { return stop(.tooLong(length)) }
        if length < limits.minimum { return stop(.tooShort(length)) }
        guard bufferedCount >= 4 + length else { return nil }
        let start = readIndex + 4
        let message = Array(buffer[start..<(start + length)])
        readIndex = start + length
        compact()
        return .message(message)
    }

    /// Bytes received after the last event (after `.startTLS`: the start of TLS).
    public mutating func takeBuffered() -> [UInt8] {
        let rest = Array(buffer[readIndex...])
        buffer.removeAll()
        readIndex = 0
        return rest
    }

    private mutating func stop(_ event: Event) -> Event {
        state = .refused
        buffer.removeAll()
        readIndex = 0
        return event
    }

    private mutating func compact() {
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        } else if readIndex > 4096 {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
    }
}

/// The client's reading of the answer to `80 00 00 01` (spec §3.3): exactly four
/// bytes, buffered across partial reads; a plain length means a KRB-ERROR follows.
public struct StartTLSReplyReader {
    public enum Outcome: Equatable, Sendable {
        /// `00 00 00 00`: TLS starts now.
        case accepted
        /// A framed KRB-ERROR (a legacy KDC answers 61); nil if it did not decode.
        case refused(KRBError?)
        /// A reply with the high bit set: not defined by RFC 6251.
        case nonstandard(UInt32)
        /// A refusal whose length exceeds what we are willing to read.
        case oversized(Int)
    }

    private var buffer: [UInt8] = []
    private var outcome: Outcome?
    public let maximumErrorLength: Int

    public init(maximumErrorLength: Int = 64 * 1024) {
        self.maximumErrorLength = maximumErrorLength
    }

    /// Feeds received bytes; returns the outcome once it is known. Bytes the
    /// server sent past the 4-byte accept are a protocol violation: `trailing`.
    public mutating func append<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Outcome? {
        if let outcome { return outcome }
        TCPFrameReader.append(bytes, to: &buffer)
        guard buffer.count >= 4 else { return nil }
        let word = buffer[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        if word == 0 {
            outcome = .accepted
        } else if word & TCPFraming.extensionBit != 0 {
            outcome = .nonstandard(word)
        } else if Int(word) > maximumErrorLength {
            outcome = .oversized(Int(word))
        } else if buffer.count >= 4 + Int(word) {
            outcome = .refused(try? KRBError(derEncoded: Array(buffer[4..<(4 + Int(word))])))
        }
        return outcome
    }

    /// Bytes after the accept word: the server spoke before our ClientHello.
    public var trailing: Int {
        outcome == .accepted ? buffer.count - 4 : 0
    }
}
