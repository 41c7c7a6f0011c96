import KXEventLoop
import KXOver

/// A client TCP connection that asked for STARTTLS (RFC 6251) and was answered
/// `00 00 00 00`. From here on it belongs to the acceptor.
public struct StartTLSHandoff: Sendable {
    /// The connected socket (non-blocking, close-on-exec, TCP_NODELAY). The
    /// acceptor owns it and must close it.
    public let fd: Int32
    /// Bytes the client sent after `80 00 00 01` that the front end already
    /// read: the start of its TLS ClientHello, if it did not wait for our answer.
    public let pendingBytes: [UInt8]
    public let peer: SocketAddress
    /// The front end address the client connected to.
    public let local: SocketAddress?

    public init(fd: Int32, pendingBytes: [UInt8], peer: SocketAddress, local: SocketAddress?) {
        self.fd = fd
        self.pendingBytes = pendingBytes
        self.peer = peer
        self.local = local
    }
}

/// Takes connections after STARTTLS, for the server side of KXOVER (the
/// engine runs the TLS Pool handshake). Called on the front end's loop.
public protocol StartTLSAcceptor: AnyObject {
    /// Asked when the STARTTLS word arrives, before it is answered: nil
    /// accepts; a refusal (its code and a reason for the peer, no local
    /// detail) is answered with a framed KRB-ERROR instead (spec §3.3).
    func refusal(ofStartTLSFrom peer: SocketAddress) -> KXError?
    func acceptStartTLS(_ handoff: StartTLSHandoff)
}
