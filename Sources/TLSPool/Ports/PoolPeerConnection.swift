import Glibc
import KXEventLoop
import KXOver

/// One TCP connection to a peer KDC after the connect: RFC 6251 STARTTLS on
/// the socket, then the TLS Pool handshake in the client role; the pool takes
/// the socket and the KX messages run over its plaintext side.
public final class PoolPeerConnection: PeerConnection {
    private var fd: Int32
    /// The peer KDC's host name (its SRV target), for what it tells us.
    private let host: String
    private let loop: EventLoop
    private let pool: TLSPoolClient
    private var watch: Watch?
    private var startTLSExchange: StartTLS?
    private var kxSession: PoolKXSession?

    /// `fd`: a connected TCP socket to the peer KDC `host`, now owned here.
    public init(fd: Int32, host: String, loop: EventLoop, pool: TLSPoolClient) {
        self.fd = fd
        self.host = host.lowercased()
        self.loop = loop
        self.pool = pool
    }

    deinit { close() }

    public var session: KXSession {
        kxSession!   // the record asks only after a successful handshake
    }

    public func startTLS(completion: @escaping (Result<Void, KXError>) -> Void) {
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

    public func handshake(serverHost: String, localHost: String, completion: @escaping (Result<Void, KXError>) -> Void) {
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

    public func close() {
        watch?.cancel()
        watch = nil
        startTLSExchange?.abandon()
        startTLSExchange = nil
        kxSession?.close()
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
}
