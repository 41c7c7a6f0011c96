import CFDPass
import Foundation

/// Small fd helpers shared by the client and the pool.
enum Descriptors {
    /// Closes `fd` when it is valid; errors are ignored (nothing useful to do).
    static func close(_ fd: Int32?) {
        guard let fd, fd >= 0 else { return }
        _ = Glibc.close(fd)
    }

    /// An AF_UNIX socketpair, both ends close-on-exec.
    static func socketPair(type: Int32 = Int32(SOCK_STREAM.rawValue)) throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard kx_fdpass_socketpair(type, &fds) == 0 else { throw TLSPoolTransportError.system("socketpair", errno) }
        return (fds[0], fds[1])
    }

    /// The socketpair type that matches `ipproto` (TCP → stream, UDP → datagram, SCTP → seqpacket).
    static func socketType(forIPProtocol ipProtocol: UInt8) -> Int32 {
        switch ipProtocol {
        case 17: Int32(SOCK_DGRAM.rawValue)
        case 132: Int32(SOCK_SEQPACKET.rawValue)
        default: Int32(SOCK_STREAM.rawValue)
        }
    }

    static func setNonBlocking(_ fd: Int32, _ on: Bool = true) throws {
        guard kx_fdpass_set_nonblocking(fd, on ? 1 : 0) == 0 else { throw TLSPoolTransportError.system("fcntl(O_NONBLOCK)", errno) }
    }

    /// Waits until `fd` is ready for `events` or `timeoutMS` passes; true when ready.
    static func wait(_ fd: Int32, for events: Int16, timeoutMS: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let n = poll(&entry, 1, timeoutMS)
            if n < 0 && errno == EINTR { continue }
            return n > 0
        }
    }
}

/// Failures below the protocol: the socket, framing, fd passing.
public enum TLSPoolTransportError: Error, Equatable, Sendable, CustomStringConvertible {
    case system(String, Int32)
    case closed
    case shortWrite(Int)
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .system(let call, let code): "\(call): \(String(cString: strerror(code)))"
        case .closed: "the TLS Pool connection is closed"
        case .shortWrite(let n): "short write of \(n) bytes to the TLS Pool"
        case .protocolViolation(let what): "TLS Pool protocol violation: \(what)"
        }
    }

    /// The errno this maps to when reported as a synthesised ERROR record.
    public var errnoValue: Int32 {
        switch self {
        case .system(_, let code): code
        case .closed: EPIPE
        case .shortWrite, .protocolViolation: EPROTO
        }
    }
}
