import Glibc

/// Why a socket could not be made, bound or connected, or an address not parsed.
public enum SocketError: Error, Equatable, Sendable, CustomStringConvertible {
    /// "ADDRESS": why it is not an address kxover takes (numeric, with a port).
    case badAddress(String, String)
    /// A system call that failed: what was done, and errno.
    case system(String, Int32)

    public var description: String {
        switch self {
        case .badAddress(let text, let why): "address \"\(text)\": \(why)"
        case .system(let what, let code): "\(what): \(String(cString: strerror(code)))"
        }
    }
}

/// Why a connection to a peer could not even be started.
public enum ConnectFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// No socket (errno), e.g. out of descriptors.
    case localResource(Int32)
    /// The peer refused or was unreachable at once (errno).
    case unreachable(Int32)

    public var description: String {
        switch self {
        case .localResource(let code): "no socket: \(String(cString: strerror(code)))"
        case .unreachable(let code): String(cString: strerror(code))
        }
    }
}
