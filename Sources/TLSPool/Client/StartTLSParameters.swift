import Glibc

/// What one STARTTLS asks of the pool (the `pioc_starttls` fields we choose).
public struct StartTLSParameters: Sendable {
    public var flags: StartTLSFlags
    /// Client: our own identity (selects our certificate). Server: "" to take
    /// the SNI name, or a preset host name the SNI must match.
    public var localID: String
    /// Client: the peer KDC host (also the SNI and the DANE host). Server: "".
    public var remoteID: String
    /// IANA service name, at most 16 bytes.
    public var service: String
    /// 6 = TCP (the socketpair for the plaintext side follows it).
    public var ipProtocol: UInt8
    /// Handshake timeout the pool applies, in ms (0 = the pool's default).
    public var poolTimeoutMS: UInt32
    /// Our own bound on the whole exchange, PING to final reply, in seconds.
    public var exchangeTimeout: Double
    /// `pioc_starttls.local` bits (none defined; a genuine pool ignores them).
    public var localBits: UInt32

    public init(flags: StartTLSFlags, localID: String, remoteID: String, service: String = "kerberos",
                ipProtocol: UInt8 = 6, poolTimeoutMS: UInt32 = 10_000, exchangeTimeout: Double = 15, localBits: UInt32 = 0) {
        self.flags = flags
        self.localID = localID
        self.remoteID = remoteID
        self.service = service
        self.ipProtocol = ipProtocol
        self.poolTimeoutMS = poolTimeoutMS
        self.exchangeTimeout = exchangeTimeout
        self.localBits = localBits
    }

    /// A KXOVER client: mutual TLS to `remoteID`, presenting `localID`'s certificate.
    public static func kxoverClient(localID: String, remoteID: String) -> StartTLSParameters {
        StartTLSParameters(flags: .kxoverClient, localID: localID, remoteID: remoteID)
    }

    /// A KXOVER server: takes the SNI name as local identity; with
    /// `checkLocalID` the pool asks us to approve it first (LOCALID callback).
    public static func kxoverServer(localID: String = "", checkLocalID: Bool = true) -> StartTLSParameters {
        StartTLSParameters(flags: checkLocalID ? StartTLSFlags.kxoverServer.union(.localIDCheck) : .kxoverServer,
                           localID: localID, remoteID: "")
    }

    func validate() throws {
        for (name, value) in [("localID", localID), ("remoteID", remoteID)] where !FixedStringField.fits(value) {
            throw TLSPoolError(code: EINVAL, message: "\(name) does not fit the 127-byte field")
        }
        guard service.utf8.count <= TLSPoolProtocol.serviceLength, !service.utf8.contains(0) else {
            throw TLSPoolError(code: EINVAL, message: "service name longer than 16 bytes")
        }
        guard exchangeTimeout > 0 else { throw TLSPoolError(code: EINVAL, message: "exchange timeout must be positive") }
    }

    func record(ctlkey: CtlKey) -> TLSPoolRecord {
        var record = TLSPoolRecord(command: .startTLS)
        var payload = record.starttls
        payload.flags = flags
        payload.local = localBits
        payload.ipProtocol = ipProtocol
        payload.localID = localID
        payload.remoteID = remoteID
        payload.ctlkey = ctlkey
        payload.service = service
        payload.timeout = poolTimeoutMS
        record.starttls = payload
        return record
    }
}

