import Glibc

/// The few socket calls kxoverd makes (its front end, the client side's
/// connections to peers, the control and metrics endpoints). Every descriptor is
/// non-blocking and close-on-exec from birth (SOCK_NONBLOCK | SOCK_CLOEXEC),
/// so no child process ever inherits a client connection.
public enum Sockets {
    public static let streamType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    public static let datagramType = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)

    /// A listening TCP socket. SO_REUSEADDR lets a restarted daemon bind while
    /// old connections sit in TIME_WAIT; IPv6 sockets are IPv6-only so that
    /// `0.0.0.0:88` and `[::]:88` can be configured side by side.
    public static func tcpListener(_ address: SocketAddress, backlog: Int32) throws -> Int32 {
        let fd = try open(address, type: streamType, what: "TCP listener")
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
            try bindIPv6Only(fd, address, what: "TCP")
            guard listen(fd, backlog) == 0 else { throw SocketError.system("listen on \(address)", errno) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// A bound UDP socket. Deliberately without SO_REUSEADDR: on Linux it lets
    /// a second UDP socket (krb5kdc sets it too) bind the same port silently
    /// and take part of the traffic; a clash must fail instead.
    public static func udpListener(_ address: SocketAddress) throws -> Int32 {
        let fd = try open(address, type: datagramType, what: "UDP listener")
        do {
            try bindIPv6Only(fd, address, what: "UDP")
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// A UDP socket connected to `peer`: the kernel then delivers only that
    /// peer's datagrams to it and reports ICMP refusals as ECONNREFUSED.
    public static func connectedUDP(to peer: SocketAddress) throws(ConnectFailure) -> Int32 {
        let fd = socket(peer.protocolFamily, datagramType, 0)
        guard fd >= 0 else { throw .localResource(errno) }
        guard peer.withSockAddr({ connect(fd, $0, $1) }) == 0 else {
            let code = errno
            close(fd)
            throw .unreachable(code)
        }
        return fd
    }

    /// Starts a non-blocking TCP connect; true when it completed at once.
    public static func connectTCP(to peer: SocketAddress) throws(ConnectFailure) -> (fd: Int32, connected: Bool) {
        let fd = socket(peer.protocolFamily, streamType, 0)
        guard fd >= 0 else { throw .localResource(errno) }
        if peer.withSockAddr({ connect(fd, $0, $1) }) == 0 { return (fd, true) }
        let code = errno
        if code == EINPROGRESS { return (fd, false) }
        close(fd)
        throw .unreachable(code)
    }

    public static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        return ok ? SocketAddress(storage: storage) : nil
    }

    /// SO_ERROR: the outcome of a non-blocking connect (0 = connected).
    public static func pendingError(_ fd: Int32) -> Int32 {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { return errno }
        return code
    }

    public enum Transfer: Equatable {
        case done(Int)
        case wouldBlock
        case endOfStream
        case failed(Int32)
    }

    /// One read into `buffer`, retried on EINTR.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Transfer {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 { return .done(n) }
            if n == 0 { return .endOfStream }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case let code: return .failed(code)
            }
        }
    }

    /// One send, retried on EINTR; MSG_NOSIGNAL so a vanished peer is EPIPE, not SIGPIPE.
    public static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Transfer {
        while true {
            let n = send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .done(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case let code: return .failed(code)
            }
        }
    }

    private static func open(_ address: SocketAddress, type: Int32, what: String) throws -> Int32 {
        let fd = socket(address.protocolFamily, type, 0)
        guard fd >= 0 else { throw SocketError.system("\(what) socket for \(address)", errno) }
        return fd
    }

    private static func bindIPv6Only(_ fd: Int32, _ address: SocketAddress, what: String) throws {
        if address.family == .inet6 { try setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "IPV6_V6ONLY") }
        guard address.withSockAddr({ bind(fd, $0, $1) }) == 0 else {
            throw SocketError.system("bind \(what) \(address)", errno)
        }
    }

    private static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ label: String) throws {
        var value = value
        guard setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw SocketError.system("setsockopt \(label)", errno)
        }
    }
}

extension Sockets {
    /// One datagram into `buffer` and its sender, retried on EINTR.
    public static func receiveDatagram(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> (Transfer, SocketAddress?) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        while true {
            let n = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(fd, buffer.baseAddress, buffer.count, 0, $0, &length)
                }
            }
            if n >= 0 { return (.done(n), SocketAddress(storage: storage)) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return (.wouldBlock, nil)
            case let code: return (.failed(code), nil)
            }
        }
    }

    /// One datagram to `peer`; a full send buffer is reported, not waited on.
    public static func sendDatagram(_ fd: Int32, _ bytes: [UInt8], to peer: SocketAddress) -> Transfer {
        bytes.withUnsafeBytes { raw in
            peer.withSockAddr { address, length in
                while true {
                    let n = sendto(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL), address, length)
                    if n >= 0 { return .done(n) }
                    switch errno {
                    case EINTR: continue
                    case EAGAIN, EWOULDBLOCK: return .wouldBlock
                    case let code: return .failed(code)
                    }
                }
            }
        }
    }

    /// Accepts one connection as non-blocking and close-on-exec.
    public static func accept(_ listener: Int32) -> (fd: Int32, peer: SocketAddress?, error: Int32) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        while true {
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    acceptNonBlockingCloseOnExec(listener, $0, &length)
                }
            }
            if fd >= 0 {
                // Replies and the STARTTLS answer are single writes; without
                // Nagle a second one never waits for the client's delayed ACK.
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                return (fd, SocketAddress(storage: storage), 0)
            }
            if errno != EINTR { return (-1, nil, errno) }
        }
    }

    private typealias Accept4 = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32

    /// glibc declares accept4 only under _GNU_SOURCE, which the Glibc module
    /// lacks; the symbol itself is always there. Looked up once.
    private static let accept4: Accept4? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "accept4") else { return nil }   // RTLD_DEFAULT
        return unsafeBitCast(symbol, to: Accept4.self)
    }()

    /// accept4(SOCK_NONBLOCK | SOCK_CLOEXEC): no window in which a process
    /// spawned by another thread could inherit the client socket.
    private static func acceptNonBlockingCloseOnExec(_ listener: Int32, _ address: UnsafeMutablePointer<sockaddr>,
                                                      _ length: UnsafeMutablePointer<socklen_t>) -> Int32 {
        if let accept4 {
            return accept4(listener, address, length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        }
        let fd = Glibc.accept(listener, address, length)
        if fd >= 0 {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        return fd
    }
}
