import Glibc

/// A listening UNIX stream socket at a path, for kxoverd's control and
/// hostrealm sockets and tlspoold's pool socket. A stale socket file (nobody
/// listening) is replaced; a live one, or anything that is not a socket, is
/// an error. The file is created with its mode (bind(2) under a umask of a
/// thread's own), so no chmod follows a path someone could have swapped for
/// a symlink, and no other thread's file takes that umask. `close` removes
/// the file only if it is still the one we bound.
public final class UnixListener {
    public let path: String
    public let fd: Int32
    private let identity: (device: UInt64, inode: UInt64)?

    /// `what` names the socket in errors, e.g. "hostrealm_socket".
    /// `nonBlocking`: for a listener an event loop watches; a thread that
    /// blocks in accept(2) wants it false.
    public init(path: String, what: String, mode: mode_t = 0o660, backlog: Int32, nonBlocking: Bool = true) throws {
        let address = try Self.checkPath(path, what: what)
        try Self.removeStale(path, address, what: what)
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        let fd = socket(AF_UNIX, type, 0)
        guard fd >= 0 else { throw UnixListenerError("\(what) \(path): socket: \(String(cString: strerror(errno)))") }
        let bound = address.bind(fd, mode: mode)
        let bindError = errno
        guard bound == 0, listen(fd, backlog) == 0 else {
            let code = bound == 0 ? errno : bindError
            Glibc.close(fd)
            if bound == 0 { unlink(path) }
            throw UnixListenerError("\(what) \(path): \(String(cString: strerror(code)))")
        }
        var info = stat()
        identity = lstat(path, &info) == 0 ? (UInt64(info.st_dev), UInt64(info.st_ino)) : nil
        self.path = path
        self.fd = fd
    }

    /// Closes the socket and removes its file if it is still ours (a newer
    /// process may have replaced it).
    public func close() {
        Glibc.close(fd)
        removeFile()
    }

    /// Removes the socket file if it is still the one this listener bound.
    public func removeFile() {
        var info = stat()
        if let identity, lstat(path, &info) == 0, UInt64(info.st_dev) == identity.device, UInt64(info.st_ino) == identity.inode {
            unlink(path)
        }
    }

    /// What makes the start fail whoever else is running: a path too long
    /// for a socket address, or a file there that is not a socket. (A live
    /// socket is checked only at the start: under `kxoverd -n` it may be the
    /// running kxoverd's own.)
    @discardableResult
    public static func checkPath(_ path: String, what: String) throws -> UnixSocketAddress {
        guard let address = UnixSocketAddress(path) else { throw UnixListenerError("\(what) \(path): path too long") }
        var info = stat()
        if lstat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFSOCK {
            throw UnixListenerError("\(what) \(path) exists and is not a socket")
        }
        return address
    }

    /// Removes a socket file nobody listens on (`checkPath` has vouched that it is one).
    private static func removeStale(_ path: String, _ address: UnixSocketAddress, what: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return }
        defer { Glibc.close(probe) }
        let live = address.connect(probe) == 0 || errno == EAGAIN
        guard !live else { throw UnixListenerError("\(what) \(path) is in use by another process") }
        unlink(path)
    }
}

public struct UnixListenerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
