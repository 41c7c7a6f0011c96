import KXEventLoop

/// One client request from receipt to its answer: shown to the interceptor
/// (which may hold it before forwarding), relayed to krb5kdc, its reply shown
/// to the interceptor (which may hold it and ask for replays), and answered at
/// most once. Transport-neutral: the owner supplies where the answer goes
/// (`answer`) and what to do when there will be none (`abandon`).
///
///     arrived ─forward→ relaying ─reply→ replied ─deliver→ answered
///     any hold ─holdTimeout→ abandoned     relaying ─backend failure→ abandoned
final class RelayedRequest {
    let request: [UInt8]
    let client: RelayClient
    private unowned let context: FrontEndContext
    private let answer: ([UInt8]) -> Void
    /// Called once when the request ends without an answer (backend failure
    /// or hold expiry); never after `answer` or `cancel`.
    private let abandon: () -> Void
    private var forwarded = false
    private var attempt: BackendExchange?
    private var replays: [Int: (exchange: BackendExchange, completion: BackendCompletion)] = [:]
    private var replaysUsed = 0
    private var holdTimer: Watch?
    private var isFinished = false

    init(request: [UInt8], client: RelayClient, context: FrontEndContext,
         answer: @escaping ([UInt8]) -> Void, abandon: @escaping () -> Void) {
        self.request = request
        self.client = client
        self.context = context
        self.answer = answer
        self.abandon = abandon
    }

    func start() {
        guard let interceptor = context.interceptor else { return forward() }
        interceptor.requestArrived(request, client: client, forward: { [weak self] in self?.forward() })
        // Most requests are forwarded within the call: only one the
        // interceptor kept needs the hold's bound (no timer per request).
        if !forwarded && !isFinished {
            context.counters.heldBeforeBackend += 1
            startHold()
        }
    }

    /// The client went away or the front end closes: no answer, no abandon.
    func cancel() {
        finish()
    }

    private func forward() {
        guard !isFinished, !forwarded else { return }
        forwarded = true
        stopHold()
        attempt = context.backend.relay(request, from: client.transport) { [weak self] result in
            self?.backendAnswered(result)
        }
    }

    private func startHold() {
        holdTimer = context.loop.schedule(after: context.limits.holdTimeout) { [weak self] in self?.holdExpired() }
    }

    private func stopHold() {
        holdTimer?.cancel()
        holdTimer = nil
    }

    private func backendAnswered(_ result: Result<[UInt8], RelayFailure>) {
        attempt = nil
        switch result {
        case .failure:
            context.counters.relayErrors += 1
            finish()
            abandon()
        case .success(let reply):
            guard let interceptor = context.interceptor else { return deliver(reply) }
            context.counters.intercepted += 1
            let loop = context.loop
            interceptor.backendReplied(
                request: request, reply: reply, client: client,
                deliver: { [weak self] bytes in self?.deliver(bytes) },
                replay: { [weak self, weak loop] completion in
                    if let self { return self.replay(completion) }
                    loop?.schedule(after: 0) { completion(.failure(.cancelled)) }
                })
            // Delivered within the call (the usual case), or held: then bounded.
            if !isFinished { startHold() }
        }
    }

    private func deliver(_ bytes: [UInt8]) {
        guard !isFinished else { return }
        finish()
        answer(bytes)
    }

    private func holdExpired() {
        guard !isFinished else { return }
        context.counters.holdsExpired += 1
        finish()
        abandon()
    }

    private func replay(_ completion: @escaping BackendCompletion) {
        let refusal: RelayFailure? = isFinished ? .cancelled
            : replaysUsed >= context.limits.maxReplaysPerRequest ? .tooManyReplays : nil
        if let refusal {
            context.loop.schedule(after: 0) { completion(.failure(refusal)) }
            return
        }
        replaysUsed += 1
        context.counters.replays += 1
        let number = replaysUsed
        let exchange = context.backend.relay(request, from: client.transport) { [weak self] result in
            guard let entry = self?.replays.removeValue(forKey: number) else { return }
            entry.completion(result)
        }
        replays[number] = (exchange, completion)
    }

    /// Stops everything in progress. Replays still running complete with
    /// `.cancelled`, later on the loop, as promised to the interceptor.
    private func finish() {
        guard !isFinished else { return }
        isFinished = true
        stopHold()
        attempt?.cancel()
        attempt = nil
        let pending = replays.values
        replays.removeAll()
        for entry in pending {
            entry.exchange.cancel()
            let completion = entry.completion
            context.loop.schedule(after: 0) { completion(.failure(.cancelled)) }
        }
    }
}
