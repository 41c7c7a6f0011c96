import Foundation
import KXDaemon
import KXEventLoop
import KXOver

/// A front end for one test, on a loop of its own, in front of the realm's KDC.
final class FrontEndHarness {
    let loop: EventLoop
    let frontEnd: KDCFrontEnd
    let realm: FrontEndTestRealm

    /// Short backend retries so failure paths finish quickly.
    static var testLimits: FrontEndConfiguration.Limits {
        var limits = FrontEndConfiguration.Limits()
        limits.backendUDPWaits = [0.3, 0.2, 0.2, 0.2]
        limits.backendTCPTimeout = 3
        return limits
    }

    init(realm: FrontEndTestRealm = .shared, listen: [String] = ["127.0.0.1:0"],
         tcpClientBackend: FrontEndConfiguration.TCPClientBackendPolicy = .udpFirst(maxUDPRequest: 1465),
         limits: FrontEndConfiguration.Limits = testLimits) throws {
        self.realm = realm
        loop = try EventLoop()
        let configuration = FrontEndConfiguration(realm: realm.realm, listen: try listen.map { try SocketAddress(parsing: $0) },
                                                  backend: realm.backend, tcpClientBackend: tcpClientBackend, limits: limits)
        frontEnd = try KDCFrontEnd(configuration: configuration, loop: loop)
        try frontEnd.start()
    }

    deinit { frontEnd.close() }

    var address: SocketAddress { frontEnd.boundAddresses[0] }
    var port: UInt16 { address.port }

    @discardableResult
    func drive(timeout: Double = 5, until condition: () -> Bool) -> Bool {
        loop.run(until: condition, timeout: timeout)
    }

    /// Runs the loop for `seconds` whatever happens.
    func idle(_ seconds: Double) {
        loop.run(until: { false }, timeout: seconds)
    }
}

/// Builds a sockaddr for a test socket from the public address fields.
func withFrontEndTestSockAddr<R>(_ address: SocketAddress, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    switch address.family {
    case .inet:
        var v4 = sockaddr_in()
        v4.sin_family = sa_family_t(AF_INET)
        v4.sin_port = address.port.bigEndian
        withUnsafeMutableBytes(of: &v4.sin_addr) { $0.copyBytes(from: address.addressBytes) }
        return withUnsafePointer(to: &v4) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    case .inet6:
        var v6 = sockaddr_in6()
        v6.sin6_family = sa_family_t(AF_INET6)
        v6.sin6_port = address.port.bigEndian
        withUnsafeMutableBytes(of: &v6.sin6_addr) { $0.copyBytes(from: address.addressBytes) }
        return withUnsafePointer(to: &v6) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
    }
}

/// A raw client socket (non-blocking after connect) that the test reads by
/// polling inside `loop.run(until:)`, so the front end keeps running.
final class FrontEndTestSocket {
    private(set) var fd: Int32
    private(set) var received: [UInt8] = []
    /// EOF or a reset was seen.
    private(set) var isClosedByPeer = false
    private(set) var resetByPeer = false

    init(tcpTo address: SocketAddress) throws {
        fd = socket(address.family == .inet ? AF_INET : AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FrontEndTestFailure("socket: \(String(cString: strerror(errno)))") }
        // Completes from the listen backlog even while the loop is not running.
        guard withFrontEndTestSockAddr(address, { connect(fd, $0, $1) }) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw FrontEndTestFailure("connect \(address): \(String(cString: strerror(code)))")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    init(udpTo address: SocketAddress) throws {
        fd = socket(address.family == .inet ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0, withFrontEndTestSockAddr(address, { connect(fd, $0, $1) }) == 0 else { throw FrontEndTestFailure("udp socket to \(address)") }
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Sends everything (small test messages fit the socket buffer).
    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { offset += n } else if errno != EAGAIN && errno != EINTR { return } else { usleep(1000) }
        }
    }

    /// Reads what is available; returns self for chaining in conditions.
    @discardableResult
    func pump() -> FrontEndTestSocket {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !isClosedByPeer {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { received += buffer[0..<n]; continue }
            if n == 0 { isClosedByPeer = true; break }
            if errno == EAGAIN || errno == EWOULDBLOCK { break }
            if errno == EINTR { continue }
            if errno == ECONNRESET { resetByPeer = true }
            isClosedByPeer = true
        }
        return self
    }

    /// Datagrams received on a UDP socket, one entry each.
    func datagrams() -> [[UInt8]] {
        var out: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n >= 0 { out.append(Array(buffer[0..<n])); continue }
            if errno == EINTR { continue }
            return out
        }
    }

    /// The first whole frame received (without its length), if complete.
    var firstFrame: [UInt8]? {
        guard received.count >= 4 else { return nil }
        let length = Int(received[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        guard length < 0x8000_0000, received.count >= 4 + length else { return nil }
        return Array(received[4..<(4 + length)])
    }

    func shutdownSending() { shutdown(fd, Int32(SHUT_WR)) }
}

/// The KRB-ERROR code in a reply, if the reply is a KRB-ERROR.
func frontEndKRBErrorCode(_ message: [UInt8]?) -> Int32? {
    guard let message, let error = try? KRBError(derEncoded: message) else { return nil }
    return error.errorCode
}

/// Sockets open in this process that belong to a front end: bound to its
/// public port, or connected to its backend's port. Counting exactly these
/// (not all of /proc/self/fd) stays true while other tests run in parallel;
/// each descriptor is asked directly (getsockname/getpeername), because
/// /proc/net tables read while other tests open sockets can skip entries.
func frontEndSocketCount(publicPort: UInt16, backendPort: UInt16) -> Int {
    let fds = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
    return fds.filter { fd in
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"),
              target.hasPrefix("socket:[") else { return false }
        return frontEndSocketPort(of: fd, peer: false) == publicPort || frontEndSocketPort(of: fd, peer: true) == backendPort
    }.count
}

/// The local or peer port of an inet socket, nil otherwise.
func frontEndSocketPort(of fd: Int32, peer: Bool) -> UInt16? {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let ok = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { (peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length)) == 0 }
    }
    guard ok, storage.ss_family == sa_family_t(AF_INET) || storage.ss_family == sa_family_t(AF_INET6) else { return nil }
    return withUnsafeBytes(of: &storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
}
