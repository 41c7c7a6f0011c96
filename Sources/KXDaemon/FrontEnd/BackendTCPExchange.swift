import Glibc
import KXEventLoop
import KXOver

/// One request to krb5kdc over a fresh TCP connection: connect, send the
/// framed request, read one framed reply, close. Bounded by
/// `Limits.backendTCPTimeout` and by the frame size cap.
final class BackendTCPExchange: BackendExchange {
    private let request: [UInt8]
    private let framedRequest: [UInt8]
    private let backend: BackendKDC
    private var completion: BackendCompletion?
    private var fd: Int32 = -1
    private var written = 0
    private var reader: TCPFrameReader
    private var writable: Watch?
    private var readable: Watch?
    private var deadline: Watch?
    /// Running: counted against the backend's TCP concurrency.
    private var holdsSlot = false
    private var leftQueue = false
    /// Inside `connect()`: an outcome now (refused at once) is reported on
    /// the next loop turn, never from inside the caller's `send`.
    private var connecting = false

    init(request: [UInt8], backend: BackendKDC, completion: @escaping BackendCompletion) {
        self.request = request
        framedRequest = TCPFraming.frame(request)
        self.backend = backend
        self.completion = completion
        reader = TCPFrameReader(limits: backend.limits.frameLimits, extensionsAllowed: false)
    }

    deinit {
        closeSocket()
        if holdsSlot { backend.tcpExchangeEnded() }
    }

    /// Queued and not yet connecting.
    var isWaiting: Bool { completion != nil && !holdsSlot }

    /// The deadline covers the time in the backend's queue too.
    func armDeadline() {
        let seconds = backend.isClosed ? 0 : backend.limits.backendTCPTimeout
        deadline = backend.loop.schedule(after: seconds) { [weak self] in
            guard let self else { return }
            self.finish(.failure(self.backend.isClosed ? .cancelled : .backendTimedOut))
        }
    }

    /// Called by the backend when a connection slot is ours.
    func connect() {
        holdsSlot = true
        connecting = true
        defer { connecting = false }
        do {
            fd = try Sockets.connectTCP(to: backend.address).fd
        } catch {
            return finish(.failure(RelayFailure(connecting: error)))
        }
        // On loopback the handshake is usually done by now; if not, the
        // write says EAGAIN and we wait for writability.
        sendRequest()
    }

    func cancel() {
        completion = nil
        release()
    }

    private func connectionWritable() {
        let code = Sockets.pendingError(fd)
        guard code == 0 else { return finish(.failure(.backendUnreachable(code))) }
        sendRequest()
    }

    private func sendRequest() {
        while written < framedRequest.count {
            let result = framedRequest.withUnsafeBytes { Sockets.write(fd, UnsafeRawBufferPointer(rebasing: $0[written...])) }
            switch result {
            case .done(let count):
                written += count
            case .wouldBlock:
                if writable == nil {
                    writable = backend.loop.watch(fd: fd, events: .writable) { [weak self] _ in self?.connectionWritable() }
                }
                return
            case .endOfStream:
                return finish(.failure(.backendClosed))
            case .failed(let code):
                return finish(.failure(.backendUnreachable(code)))
            }
        }
        writable?.cancel()
        writable = nil
        readable = backend.loop.watch(fd: fd, events: .readable) { [weak self] _ in self?.receive() }
    }

    private func receive() {
        switch Sockets.read(fd, into: backend.scratch.bytes) {
        case .done(let count):
            reader.append(UnsafeRawBufferPointer(rebasing: backend.scratch.bytes[0..<count]))
            switch reader.next() {
            case nil: return
            case .message(let reply):
                if reply.count > backend.limits.backendMaxDatagramReply {
                    backend.oversizedReplies.remember(request, tooBigReply: nil)
                }
                finish(.success(reply))
            case let other?: finish(.failure(.backendReplyMalformed("\(other)")))
            }
        case .wouldBlock:
            return
        case .endOfStream:
            finish(.failure(.backendClosed))
        case .failed(let code):
            finish(.failure(code == ECONNRESET ? .backendClosed : .backendUnreachable(code)))
        }
    }

    private func finish(_ result: Result<[UInt8], RelayFailure>) {
        guard let completion else { return }
        if connecting {
            deadline?.cancel()
            deadline = backend.loop.schedule(after: 0) { [weak self] in self?.finish(result) }
            return
        }
        self.completion = nil
        release()
        completion(result)
    }

    /// Gives back the connection slot, or leaves the queue.
    private func release() {
        closeSocket()
        if holdsSlot {
            holdsSlot = false
            backend.tcpExchangeEnded()
        } else if !leftQueue {
            leftQueue = true
            backend.tcpExchangeLeftQueue(self)
        }
    }

    private func closeSocket() {
        writable?.cancel()
        writable = nil
        readable?.cancel()
        readable = nil
        deadline?.cancel()
        deadline = nil
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}
