import Glibc
import KXEventLoop

/// Binds the UDP and TCP sockets of every listen address, all or nothing.
/// A Kerberos client uses one port for both transports, so a port-0 address
/// takes its port from its TCP socket and binds UDP on the same one; every
/// port-0 address shares the first such port. If that UDP port is taken,
/// everything is released and another port is tried.
enum ListenerBinding {
    struct Bound {
        let address: SocketAddress
        let tcp: Int32
        let udp: Int32
    }

    private static let attempts = 16

    static func bind(_ addresses: [SocketAddress], backlog: Int32) throws -> [Bound] {
        let picksPort = addresses.contains { $0.port == 0 }
        var attempt = 0
        while true {
            attempt += 1
            var bound: [Bound] = []
            do {
                var sharedPort: UInt16?
                for requested in addresses {
                    let port = requested.port != 0 ? requested.port : sharedPort ?? 0
                    let tcp = try Sockets.tcpListener(requested.withPort(port), backlog: backlog)
                    guard let actual = Sockets.localAddress(tcp) else {
                        let code = errno
                        close(tcp)
                        throw SocketError.system("getsockname on \(requested)", code)
                    }
                    if requested.port == 0 && sharedPort == nil { sharedPort = actual.port }
                    do {
                        bound.append(Bound(address: actual, tcp: tcp, udp: try Sockets.udpListener(actual)))
                    } catch {
                        close(tcp)
                        throw error
                    }
                }
                return bound
            } catch SocketError.system(_, EADDRINUSE) where picksPort && attempt < attempts {
                release(bound)
            } catch {
                release(bound)
                throw error
            }
        }
    }

    private static func release(_ bound: [Bound]) {
        for socket in bound {
            close(socket.tcp)
            close(socket.udp)
        }
    }
}
