import Glibc
import KXEventLoop

/// One request to krb5kdc over UDP from a connected socket of its own (while
/// it runs). Spec §3.4: wait 2.0 s after the first send, then 1.0 s after
/// each of up to three more, then give up. The first non-empty datagram is
/// the reply.
final class BackendUDPExchange: BackendExchange {
    private let request: [UInt8]
    private let backend: BackendKDC
    private var completion: BackendCompletion?
    private var socket: BackendUDPSocket?
    /// Only to report a failure to get a socket later on the loop; the
    /// retries use the socket's timer.
    private var failureReport: Watch?
    private var sends = 0
    /// Last error the socket reported (ICMP port unreachable: ECONNREFUSED).
    private var lastError: Int32?

    init(request: [UInt8], backend: BackendKDC, completion: @escaping BackendCompletion) {
        self.request = request
        self.backend = backend
        self.completion = completion
    }

    deinit { release(reusable: false) }

    func start() {
        do {
            socket = try backend.takeUDPSocket()
        } catch {
            failureReport = backend.loop.schedule(after: 0) { [weak self] in self?.finish(.failure(error)) }
            return
        }
        socket?.owner = self
        sendOnce()
    }

    func cancel() {
        completion = nil
        release(reusable: false)
    }

    private func sendOnce() {
        guard let fd = socket?.fd, fd >= 0 else { return }
        sends += 1
        let result = request.withUnsafeBytes { Sockets.write(fd, $0) }
        if case .failed(let code) = result { lastError = code }
        socket?.setRetryTimer(after: backend.limits.backendUDPWaits[sends - 1])
    }

    /// The wait after a send is over (called by `BackendUDPSocket`).
    func waited() {
        if sends < backend.limits.backendUDPWaits.count {
            sendOnce()
        } else {
            finish(.failure(lastError.map { .backendUnreachable($0) } ?? .backendTimedOut))
        }
    }

    /// The socket is readable (called by `BackendUDPSocket`).
    func receive() {
        guard let fd = socket?.fd, fd >= 0 else { return }
        while completion != nil {
            switch Sockets.read(fd, into: backend.scratch.bytes) {
            case .done(let count):
                let reply = backend.scratch.copy(count)
                if OversizedReplyMemory.isTooBig(reply) { backend.oversizedReplies.remember(request, tooBigReply: reply) }
                return finish(.success(reply))
            case .endOfStream:
                continue   // an empty datagram is no reply
            case .wouldBlock:
                return
            case .failed(let code):
                lastError = code   // keep waiting: the next send may find krb5kdc back
            }
        }
    }

    private func finish(_ result: Result<[UInt8], RelayFailure>) {
        guard let completion else { return }
        self.completion = nil
        // One send, one reply: no late duplicate can reach a reused socket.
        if case .success = result { release(reusable: sends == 1) } else { release(reusable: false) }
        completion(result)
    }

    private func release(reusable: Bool) {
        failureReport?.cancel()
        failureReport = nil
        guard let socket else { return }
        self.socket = nil
        socket.owner = nil
        socket.clearRetryTimer()
        if reusable { backend.recycleUDPSocket(socket) } else { socket.close() }
    }
}
