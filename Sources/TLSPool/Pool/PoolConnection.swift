import Foundation
import KXEventLoop

/// One application connected to the pool, served on one of the pool's
/// lanes: its records are read as they arrive, the quick commands (PING,
/// PRNG, INFO, CONTROL) are answered inline, each STARTTLS becomes a session
/// on a lane of its own, and callback responses go to the session awaiting
/// them.
final class PoolConnection: @unchecked Sendable {
    let server: TLSPoolServer
    let transport: TLSPoolConnection
    let lane: PoolLane
    /// Everything the pool sends this application goes through here, never waiting.
    private let outbox: Outbox
    /// Watches the socket on the lane (touched only there).
    @CancelledWhenReplaced private var readWatch: Watch?

    /// Guards `callbacks`, `closed` and `sessions` (sessions on other lanes use them).
    private let state = NSLock()
    private var callbacks: [UInt16: PoolSession] = [:]
    private var closed = false
    private var sessions: [ObjectIdentifier: PoolSession] = [:]

    init(server: TLSPoolServer, transport: TLSPoolConnection, lane: PoolLane) {
        self.server = server
        self.transport = transport
        self.lane = lane
        outbox = Outbox(transport: transport, lane: lane)
    }

    var isClosed: Bool { state.withLock { closed } }

    // MARK: - Reader

    /// On the lane: starts reading the application's records.
    func start() {
        readWatch = lane.loop.watch(fd: transport.fileDescriptor, events: .readable) { [self] _ in readAvailable() }
    }

    private func readAvailable() {
        do {
            let (records, ended) = try transport.readAvailable(limit: 16)
            for received in records { handle(received) }
            if ended { teardown() }
        } catch {
            server.log("TLS Pool connection dropped: \(error)")
            teardown()
        }
    }

    private func handle(_ received: ReceivedRecord) {
        if received.record.cbid != 0, deliverCallbackResponse(received) { return }
        var fd = received.passedFD
        defer { Descriptors.close(fd) }   // whatever a command does not take is superfluous
        let record = received.record
        switch record.command {
        case .ping: answerPing(record)
        case .startTLS:
            startSession(record, cryptFD: fd)
            fd = nil
        case .prng: answerExport(record, contextCarrier: nil)
        case .prngLong:
            answerExport(record, contextCarrier: fd)
        case .info: answerInfo(record)
        case .controlDetach, .controlReattach: answerControl(record)
        case .lidEntryRegister, .pinEntry:
            reply(.error(.commandNotImplemented, "\(record.command.name) is not offered by this pool", reqid: record.reqid))
        default:
            // Includes stray callback responses (PLAINTEXT_CONNECT, LOCALID,
            // ERROR) that match no waiting callback.
            reply(.error(.commandUnknown, "unknown command 0x\(String(record.command.rawValue, radix: 16))", reqid: record.reqid))
        }
    }

    /// Sends `record` if the application is still there (cbid cleared on SUCCESS/ERROR).
    func reply(_ record: TLSPoolRecord) {
        var outgoing = record
        if outgoing.command == .error || outgoing.command == .success { outgoing.cbid = 0 }
        do {
            try outbox.send(outgoing)
        } catch {
            server.log("TLS Pool reply \(outgoing.command.name) not delivered: \(error == .stuck ? "the application does not read its records" : "disconnected")")
        }
    }

    // MARK: - Sessions

    private func startSession(_ record: TLSPoolRecord, cryptFD: Int32?) {
        let flags = record.starttls.flags
        if flags.contains(.renegotiate) {
            if let cryptFD {
                Descriptors.close(cryptFD)
                return reply(.error(.superfluousSocket, "renegotiation takes no socket", reqid: record.reqid))
            }
            return reply(.error(.commandNotImplemented, "renegotiation is not supported", reqid: record.reqid))
        }
        guard let cryptFD else {
            return reply(.error(.cipherSocketNeeded, "STARTTLS needs the connection's socket", reqid: record.reqid))
        }
        if let refusal = PoolSession.refusal(for: record.starttls) {
            Descriptors.close(cryptFD)
            return reply(.error(refusal.code, refusal.message, reqid: record.reqid))
        }
        let session = PoolSession(server: server, owner: self, lane: server.nextLane(), request: record, cryptFD: cryptFD)
        let accepted = state.withLock { () -> Bool in
            if !closed { sessions[ObjectIdentifier(session)] = session }
            return !closed
        }
        guard accepted else { return session.discard() }
        if let refusal = server.launch(session) {
            state.withLock { sessions[ObjectIdentifier(session)] = nil }
            session.discard()
            reply(.error(refusal.code, refusal.message, reqid: record.reqid))
        }
    }

    /// Called by a session when it is completely done.
    func sessionEnded(_ session: PoolSession) {
        state.withLock { sessions[ObjectIdentifier(session)] = nil }
    }

    // MARK: - Callbacks (pool → application)

    /// Sends `record` as a callback of `session` (a free cbid in 1...1024 of
    /// this connection); the answer goes to `session.callbackAnswered`.
    /// Returns the problem if it cannot be sent.
    func sendCallback(_ record: TLSPoolRecord, for session: PoolSession) -> PoolProblem? {
        let cbid = state.withLock { () -> UInt16? in
            guard !closed, let cbid = TLSPoolProtocol.callbackIDRange.first(where: { callbacks[$0] == nil }) else { return nil }
            callbacks[cbid] = session
            return cbid
        }
        guard let cbid else {
            return isClosed ? PoolProblem(.clientDisconnect, "the application disconnected")
                            : PoolProblem(.stirredNotShaken, "no free callback id on this connection")
        }
        var outgoing = record
        outgoing.cbid = cbid
        do {
            try outbox.send(outgoing)
        } catch {
            state.withLock { if callbacks[cbid] === session { callbacks[cbid] = nil } }
            return PoolProblem(.clientDisconnect, "the application disconnected")
        }
        return nil
    }

    /// Gives a callback response to its waiting session; false when no
    /// callback of this connection waits for that cbid (the record is then
    /// treated as a new command, as upstream does).
    private func deliverCallbackResponse(_ received: ReceivedRecord) -> Bool {
        let waiting = state.withLock { () -> PoolSession? in
            defer { callbacks[received.record.cbid] = nil }
            return callbacks[received.record.cbid]
        }
        guard let waiting else { return false }
        waiting.callbackAnswered(received)
        return true
    }

    /// Frees the callback ids `session` still holds (it is ending).
    func forgetCallbacks(of session: PoolSession) {
        state.withLock {
            for (cbid, waiting) in callbacks where waiting === session { callbacks[cbid] = nil }
        }
    }

    // MARK: - Teardown

    /// The application is gone (or the pool stops): stop its sessions
    /// (FORK sessions only become detached), close the socket. On the lane;
    /// runs once.
    func teardown() {
        let started = state.withLock { () -> [PoolSession]? in
            guard !closed else { return nil }
            closed = true
            callbacks = [:]
            return Array(sessions.values)
        }
        guard let started else { return }
        readWatch = nil
        let stopping = server.registry.connectionClosed(self)
        for session in stopping { session.cancel() }
        for session in started where !session.isRegistered { session.cancel() }
        outbox.close()
        transport.close()
        server.connectionEnded(self)
    }
}
