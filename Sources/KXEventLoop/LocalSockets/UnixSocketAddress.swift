import CEvent
import Glibc

/// A path-named AF_UNIX address, for binding a listener or connecting to one.
public struct UnixSocketAddress {
    private var address = sockaddr_un()

    /// nil when `path` is empty or too long for `sun_path`.
    public init?(_ path: String) {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
    }

    /// `bind(2)`: 0 or -1 with errno.
    public func bind(_ fd: Int32) -> Int32 {
        withSockaddr { Glibc.bind(fd, $0, $1) }
    }

    /// `bind(2)` whose file gets exactly `mode` (no umask bit taken away, no
    /// chmod after), leaving the process's umask alone: 0 or -1 with errno.
    public func bind(_ fd: Int32, mode: mode_t) -> Int32 {
        withSockaddr { kx_bind_with_mode(fd, $0, UInt32($1), UInt32(mode)) }
    }

    /// `connect(2)`: 0 or -1 with errno.
    public func connect(_ fd: Int32) -> Int32 {
        withSockaddr { Glibc.connect(fd, $0, $1) }
    }

    private func withSockaddr(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var copy = address
        return withUnsafePointer(to: &copy) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
