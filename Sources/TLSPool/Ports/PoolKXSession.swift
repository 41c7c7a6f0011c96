import Glibc
import KXEventLoop
import KXOver

/// A KXOVER session over a TLS Pool session: framed KX messages on the
/// plaintext socket, realm checks and the exporter through the pool. When
/// the plaintext socket ends early, the pool is asked why: a TLS alert from
/// the peer (in TLS 1.3 the server judges our certificate only after our
/// handshake is done) is reported as the peer's refusal.
public final class PoolKXSession: KXSession {
    private let session: TLSPoolSession
    private let loop: EventLoop
    private let fd: Int32
    private var reader = TCPFrameReader(limits: .kx, extensionsAllowed: false)
    private var readWatch: Watch?
    private var writeWatch: Watch?
    private var waiting: ((Result<[UInt8], KXError>) -> Void)?
    /// A send still waiting for room; `close` fails it, so it reports once.
    private var sending: ((Result<Void, KXError>) -> Void)?
    private var closed = false
    public let peerHost: String

    public init(session: TLSPoolSession, loop: EventLoop) throws {
        guard let fd = session.takePlaintextFD() else { throw KXError(.tls, "the TLS Pool session has no plaintext socket") }
        self.session = session
        self.loop = loop
        self.fd = fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        peerHost = session.remoteID.lowercased()
    }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        readWatch?.cancel()
        writeWatch?.cancel()
        Glibc.close(fd)
        if let waiting {
            self.waiting = nil
            waiting(.failure(KXError(.disconnected, "session closed")))
        }
        if let sending {
            self.sending = nil
            sending(.failure(KXError(.disconnected, "session closed")))
        }
    }

    public func checkRealms(peerRealm: String, ownRealm: String, completion: @escaping (Result<Void, KXError>) -> Void) {
        session.checkKDCRealm(.peer, realm: peerRealm) { [weak self] peer in
            switch peer {
            case .failure(let error): completion(.failure(error.kxError(peer: self?.peerHost)))
            case .success(false):
                completion(.failure(KXError(.realmsCheck, "the peer's certificate does not name krbtgt/\(peerRealm)@\(peerRealm)")))
            case .success(true):
                guard let self else { return completion(.failure(KXError(.cancelled, "session gone"))) }
                self.session.checkKDCRealm(.mine, realm: ownRealm) { mine in
                    switch mine {
                    case .failure(let error): completion(.failure(error.kxError(peer: self.peerHost)))
                    case .success(false):
                        completion(.failure(KXError(.realmsCheck, "our own certificate does not name krbtgt/\(ownRealm)@\(ownRealm)")))
                    case .success(true): completion(.success(()))
                    }
                }
            }
        }
    }

    public func send(_ message: [UInt8], completion: @escaping (Result<Void, KXError>) -> Void) {
        guard !closed else { return completion(.failure(KXError(.disconnected, "session closed"))) }
        var pending = TCPFraming.frame(message)[...]
        sending = completion
        func pump() {
            while !pending.isEmpty {
                let n = pending.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n > 0 { pending = pending.dropFirst(n); continue }
                if n < 0 && (errno == EAGAIN || errno == EINTR) {
                    if writeWatch == nil {
                        writeWatch = loop.watch(fd: fd, events: .writable) { _ in pump() }
                    }
                    return
                }
                let failure = KXError(.disconnected, "sending to the peer failed (errno \(errno))")
                writeWatch?.cancel()
                writeWatch = nil
                return askWhyEnded(otherwise: failure) { [weak self] in self?.sent(.failure($0)) }
            }
            sent(.success(()))
        }
        pump()
    }

    private func sent(_ result: Result<Void, KXError>) {
        writeWatch?.cancel()
        writeWatch = nil
        guard let sending else { return }
        self.sending = nil
        sending(result)
    }

    public func receive(completion: @escaping (Result<[UInt8], KXError>) -> Void) {
        if let event = reader.next() { return deliver(event, completion) }
        waiting = completion
        guard readWatch == nil else { return }
        readWatch = loop.watch(fd: fd, events: .readable) { [weak self] _ in self?.readable() }
    }

    private func readable() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        guard let waiting else {
            if n <= 0 { readWatch?.cancel(); readWatch = nil }
            else { reader.append(buffer[0..<n]) }
            return
        }
        guard n > 0 else {
            readWatch?.cancel()
            readWatch = nil
            return askWhyEnded(otherwise: KXError(.disconnected, "the peer closed the connection")) { [weak self] error in
                guard let self, let waiting = self.waiting else { return }   // `close` reported it already
                self.waiting = nil
                waiting(.failure(error))
            }
        }
        reader.append(buffer[0..<n])
        if let event = reader.next() {
            self.waiting = nil
            readWatch?.cancel()
            readWatch = nil
            deliver(event, waiting)
        }
    }

    private func deliver(_ event: TCPFrameReader.Event, _ completion: (Result<[UInt8], KXError>) -> Void) {
        switch event {
        case .message(let message): completion(.success(message))
        case .tooLong(let length): completion(.failure(KXError(.sizeError, "KX frame of \(length) bytes exceeds \(TCPFraming.Limits.kx.maximum)")))
        case .tooShort(let length): completion(.failure(KXError(.sizeError, "KX frame of \(length) bytes is too short")))
        case .startTLS, .probe, .unsupportedExtensions:
            completion(.failure(KXError(.sizeError, "extension flags inside TLS")))
        }
    }

    public func exportKey(label: String, context: [UInt8], length: Int, completion: @escaping (Result<KeyMaterial, KXError>) -> Void) {
        session.exportKey(label: label, context: context, length: length) { [peerHost] result in
            completion(result.mapError { $0.kxError(peer: peerHost) })
        }
    }

    /// The plaintext side ended early: the peer's refusal if the pool names
    /// an alert from it, else `failure`.
    private func askWhyEnded(otherwise failure: KXError, _ report: @escaping (KXError) -> Void) {
        session.askWhyEnded { [peerHost] error in
            report(error?.alertFromPeer != nil ? error!.kxError(peer: peerHost) : failure)
        }
    }
}
