import Foundation

/// A protected connection: the pool relays between the TLS connection and
/// `plaintextFD`. Follow-up requests (key export, certificate checks) carry
/// `ctlkey` on the same pool connection, and work only while the pool's relay
/// for this session lives (spec §4.2).
public final class TLSPoolSession {
    public let client: TLSPoolClient
    public let ctlkey: CtlKey
    /// Identities from the final STARTTLS reply. Our pool fills in the
    /// validated ones; a foreign pool may echo ours or leave them blank
    /// (spec §2.5.1), so realm checks go through INFO, never through these.
    public let localID: String
    public let remoteID: String
    public let flags: StartTLSFlags
    /// Our end of the plaintext socketpair, owned by the session until taken.
    public private(set) var plaintextFD: Int32?

    init(client: TLSPoolClient, ctlkey: CtlKey, plaintextFD: Int32, localID: String, remoteID: String, flags: StartTLSFlags) {
        self.client = client
        self.ctlkey = ctlkey
        self.plaintextFD = plaintextFD
        self.localID = localID
        self.remoteID = remoteID
        self.flags = flags
    }

    deinit { close() }

    /// Hands the plaintext socket to the caller, who closes it from then on.
    public func takePlaintextFD() -> Int32? {
        defer { plaintextFD = nil }
        return plaintextFD
    }

    /// Closes the plaintext socket: the pool then closes the TLS connection.
    public func close() {
        Descriptors.close(plaintextFD)
        plaintextFD = nil
    }
}
