import Glibc
import KXEventLoop
import KXOver
import TLSPool

/// Client-side connections to peer KDCs: a non-blocking TCP connect on the
/// loop, RFC 6251 STARTTLS, then the TLS Pool handshake (client role).
final class PoolPeerDialer: PeerDialer {
    private let loop: EventLoop
    /// Replaced when kxoverd reconnects to its pool; running sessions keep theirs.
    var pool: TLSPoolClient

    init(loop: EventLoop, pool: TLSPoolClient) {
        self.loop = loop
        self.pool = pool
    }

    final class Attempt: Cancellable {
        var watch: Watch?
        var fd: Int32 = -1
        func cancel() {
            watch?.cancel()
            watch = nil
            if fd >= 0 { Glibc.close(fd); fd = -1 }
        }
    }

    @discardableResult
    func connect(host: String, address: String, port: UInt16, completion: @escaping (Result<PeerConnection, KXError>) -> Void) -> Cancellable {
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

final class PoolPeerConnection: PeerConnection {
    private var fd: Int32
    /// The peer KDC's host name (its SRV target), for what it tells us.
    private let host: String
    private let loop: EventLoop
    private let pool: TLSPoolClient
    private var watch: Watch?
    private var startTLSExchange: StartTLS?
    private var kxSession: PoolKXSession?

    init(fd: Int32, host: String, loop: EventLoop, pool: TLSPoolClient) {
        self.fd = fd
        self.host = host.lowercased()
        self.loop = loop
        self.pool = pool
    }

    deinit { close() }

    var session: KXSession {
        kxSession!   // the record asks only after a successful handshake
    }

    func startTLS(completion: @escaping (Result<Void, KXError>) -> Void) {
        let request = TCPFraming.startTLSRequest
        guard request.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, 4, Int32(MSG_NOSIGNAL)) }) == 4 else {
            return completion(.failure(KXError(.disconnected, "sending STARTTLS failed")))
        }
        var reader = StartTLSReplyReader()
        watch = loop.watch(fd: fd, events: .readable) { [weak self] _ in
            guard let self else { return }
            // Read only the 4-byte answer (or a refusal): the ClientHello follows on this socket.
            var buffer = [UInt8](repeating: 0, count: 4096)
            let want = reader.append([UInt8]()) == nil ? 4 : 4096
            let n = buffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, want, 0) }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
            guard n > 0 else {
                self.watch?.cancel()
                return completion(.failure(KXError(.disconnected, "the peer closed the connection after STARTTLS")))
            }
            guard let outcome = reader.append(buffer[0..<n]) else { return }
            self.watch?.cancel()
            self.watch = nil
            switch outcome {
            case .accepted:
                completion(.success(()))
            case .refused(let error?):
                completion(.failure(Refusal.received(error, from: self.host)))
            case .refused(nil):
                completion(.failure(KXError(.sizeError, "the peer refused STARTTLS with an undecodable KRB-ERROR")))
            case .nonstandard(let word):
                completion(.failure(KXError(.sizeError, "nonstandard STARTTLS reply 0x\(String(word, radix: 16))")))
            case .oversized(let length):
                completion(.failure(KXError(.sizeError, "STARTTLS refusal of \(length) bytes")))
            }
        }
    }

    func handshake(serverHost: String, localHost: String, completion: @escaping (Result<Void, KXError>) -> Void) {
        // The pool takes the TCP socket from here on.
        let tcp = fd
        fd = -1
        let exchange = StartTLS(client: pool, tcpSocket: tcp, parameters: .kxoverClient(localID: localHost, remoteID: serverHost)) {
            [weak self] result in
            guard let self else { return }
            self.startTLSExchange = nil
            switch result {
            case .failure(let error) where error.alertFromPeer != nil:
                completion(.failure(error.kxError(peer: self.host)))
            case .failure(let error):
                completion(.failure(KXError(.tls, "TLS handshake with \(serverHost): \(error)")))
            case .success(let session):
                do {
                    self.kxSession = try PoolKXSession(session: session, loop: self.loop)
                    completion(.success(()))
                } catch let error as KXError {
                    completion(.failure(error))
                } catch {
                    completion(.failure(KXError(.tls, "\(error)")))
                }
            }
        }
        startTLSExchange = exchange
        exchange.start()
    }

    func close() {
        watch?.cancel()
        watch = nil
        startTLSExchange?.abandon()
        startTLSExchange = nil
        kxSession?.close()
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
}
