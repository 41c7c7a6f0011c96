import Glibc
import KXEventLoop
import KXOver

/// The core's PeerDialer on the pool: a non-blocking TCP connect to a peer
/// KDC on the loop; STARTTLS and the TLS Pool handshake are the connection's
/// (`PoolPeerConnection`).
public final class PoolPeerDialer: PeerDialer {
    private let loop: EventLoop
    /// Replaced when kxoverd reconnects to its pool; running sessions keep theirs.
    public var pool: TLSPoolClient

    public init(loop: EventLoop, pool: TLSPoolClient) {
        self.loop = loop
        self.pool = pool
    }

    final class Attempt: Cancellable {
        var watch: Watch?
        var fd: Int32 = -1
        public func cancel() {
            watch?.cancel()
            watch = nil
            if fd >= 0 { Glibc.close(fd); fd = -1 }
        }
    }

    @discardableResult
    public func connect(host: String, address: String, port: UInt16, completion: @escaping (Result<PeerConnection, KXError>) -> Void) -> Cancellable {
        let attempt = Attempt()
        let text = address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
        let peer: SocketAddress
        do {
            peer = try SocketAddress(parsing: text)
        } catch {
            loop.schedule(after: 0) { completion(.failure(KXError(.connect, "bad address \(text)"))) }
            return attempt
        }
        let started: (fd: Int32, connected: Bool)
        do {
            started = try Sockets.connectTCP(to: peer)
        } catch {
            loop.schedule(after: 0) { completion(.failure(KXError(.connect, "connect to \(text): \(error)"))) }
            return attempt
        }
        attempt.fd = started.fd
        let pool = self.pool
        let finish: () -> Void = { [loop] in
            let fd = attempt.fd
            attempt.fd = -1
            attempt.watch?.cancel()
            attempt.watch = nil
            let code = Sockets.pendingError(fd)
            guard code == 0 else {
                Glibc.close(fd)
                return completion(.failure(KXError(.connect, "connect to \(text): \(String(cString: strerror(code)))")))
            }
            completion(.success(PoolPeerConnection(fd: fd, host: host, loop: loop, pool: pool)))
        }
        if started.connected {
            loop.schedule(after: 0) { finish() }
        } else {
            attempt.watch = loop.watch(fd: started.fd, events: .writable) { _ in finish() }
        }
        return attempt
    }
}
