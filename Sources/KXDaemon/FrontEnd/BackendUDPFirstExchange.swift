import KXEventLoop

/// A TCP client's request sent to krb5kdc over UDP first (cheaper than a TCP
/// connection per request), and again over TCP if krb5kdc says the reply is
/// too big for a datagram (KRB_ERR_RESPONSE_TOO_BIG). A UDP failure is final:
/// a krb5kdc that does not answer UDP is down, not too big.
final class BackendUDPFirstExchange: BackendExchange {
    private let request: [UInt8]
    private let backend: BackendKDC
    private var completion: BackendCompletion?
    private var current: BackendExchange?

    init(request: [UInt8], backend: BackendKDC, completion: @escaping BackendCompletion) {
        self.request = request
        self.backend = backend
        self.completion = completion
    }

    func start() {
        current = backend.send(request, over: .udp) { [weak self] result in self?.udpAnswered(result) }
    }

    func cancel() {
        completion = nil
        current?.cancel()
        current = nil
    }

    private func udpAnswered(_ result: Result<[UInt8], RelayFailure>) {
        guard case .success(let reply) = result, OversizedReplyMemory.isTooBig(reply) else { return finish(result) }
        backend.tooBigFallbacks += 1
        current = backend.send(request, over: .tcp) { [weak self] result in self?.finish(result) }
    }

    private func finish(_ result: Result<[UInt8], RelayFailure>) {
        current = nil
        guard let completion else { return }
        self.completion = nil
        completion(result)
    }

}
