import Foundation
import TLSPool

/// A connected TCP pair on 127.0.0.1 (close-on-exec both), for handshakes
/// through the pool without any network: the two KDC sides' sockets.
public func loopbackTCPPair() throws -> (client: Int32, server: Int32) {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard listener >= 0 else { throw TLSPoolTransportError.system("socket", errno) }
    defer { close(listener) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
            bind(listener, pointer, length) == 0 && listen(listener, 4) == 0 && getsockname(listener, pointer, &length) == 0
        }
    }
    guard bound else { throw TLSPoolTransportError.system("bind/listen 127.0.0.1", errno) }
    let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard client >= 0 else { throw TLSPoolTransportError.system("socket", errno) }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) == 0 }
    }
    guard connected else {
        let code = errno
        close(client)
        throw TLSPoolTransportError.system("connect 127.0.0.1", code)
    }
    let server = accept(listener, nil, nil)
    guard server >= 0 else {
        let code = errno
        close(client)
        throw TLSPoolTransportError.system("accept", code)
    }
    _ = fcntl(server, F_SETFD, FD_CLOEXEC)
    return (client, server)
}

/// A connected AF_UNIX stream pair (close-on-exec both): the transport the
/// TLS floor (Benchmarks/tls-floor) runs its handshakes over, so a
/// benchmark can give the pool the same one and compare like with like.
public func socketPair() throws -> (client: Int32, server: Int32) {
    var fds: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
        throw TLSPoolTransportError.system("socketpair", errno)
    }
    return (fds[0], fds[1])
}
