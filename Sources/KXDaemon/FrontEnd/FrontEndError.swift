import Glibc
import KXEventLoop

/// Why the front end could not start or do what it was asked.
/// (Sockets and addresses fail with KXEventLoop's SocketError.)
public enum FrontEndError: Error, Equatable, Sendable, CustomStringConvertible {
    case badConfiguration(String)
    case closed

    public var description: String {
        switch self {
        case .badConfiguration(let why): "front end configuration: \(why)"
        case .closed: "the front end is closed"
        }
    }
}

/// Why a request got no reply from krb5kdc. Handed to a `RelayInterceptor`'s
/// replay completion; for first attempts it only moves a counter.
public enum RelayFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// The backend refused or reset (errno), e.g. krb5kdc is not running.
    case backendUnreachable(Int32)
    /// No reply within the retry schedule (UDP) or the backend timeout (TCP).
    case backendTimedOut
    /// The backend closed the TCP connection before a whole reply.
    case backendClosed
    /// The backend's reply broke framing (over the size cap, a flag word).
    case backendReplyMalformed(String)
    /// A socket could not be made (errno), e.g. out of descriptors.
    case localResource(Int32)
    /// The request was finished, abandoned or the front end closed.
    case cancelled
    /// The interceptor asked for more replays of one request than allowed.
    case tooManyReplays

    public var description: String {
        switch self {
        case .backendUnreachable(let code): "backend KDC unreachable: \(String(cString: strerror(code)))"
        case .backendTimedOut: "backend KDC did not answer in time"
        case .backendClosed: "backend KDC closed the connection before replying"
        case .backendReplyMalformed(let why): "backend KDC reply malformed: \(why)"
        case .localResource(let code): "no socket for the backend: \(String(cString: strerror(code)))"
        case .cancelled: "relay cancelled"
        case .tooManyReplays: "too many replays of one request"
        }
    }
}

extension RelayFailure {
    /// A backend connection that could not even be started.
    init(connecting failure: ConnectFailure) {
        switch failure {
        case .localResource(let code): self = .localResource(code)
        case .unreachable(let code): self = .backendUnreachable(code)
        }
    }
}
