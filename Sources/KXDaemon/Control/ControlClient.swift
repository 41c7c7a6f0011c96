import KXEventLoop
import Glibc

/// The asking end of the control socket, for `kxover status`: one command,
/// the whole answer, bounded in time and size. Blocking; not for the loop.
public enum ControlClient {
    /// "revoked krbtgt/B@A": what `kxover revoke` tells a running kxoverd.
    public static let revokedPrefix = "revoked "

    public static func ask(_ command: String, socket path: String, timeout: Double = 5) throws -> String {
        guard let address = UnixSocketAddress(path) else { throw UnixListenerError("control_socket \(path): path too long") }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw UnixListenerError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard address.connect(fd) == 0 else {
            let reason = errno == ENOENT || errno == ECONNREFUSED ? "is kxoverd running?" : String(cString: strerror(errno))
            throw UnixListenerError("cannot reach kxoverd at control_socket \(path): \(String(cString: strerror(errno))) (\(reason))")
        }
        let request = Array((command + "\n").utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw UnixListenerError("control_socket \(path): send: \(String(cString: strerror(errno)))")
        }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while answer.count < 16 << 20 {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            guard count > 0 else {
                throw UnixListenerError("control_socket \(path): no complete answer within \(timeout) s (\(String(cString: strerror(errno))))")
            }
            answer += chunk.prefix(count)
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
