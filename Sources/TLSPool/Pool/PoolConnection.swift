import CFDPass
import Foundation

/// One application connected to the pool: a reader thread that takes its
/// records one by one, answers the quick commands inline (PING, PRNG, INFO,
/// CONTROL), starts a session thread per STARTTLS, and hands callback
/// responses to the session thread waiting for them.
final class PoolConnection: @unchecked Sendable {
    let server: TLSPoolServer
    let transport: TLSPoolConnection
    /// Readable once the pool shuts down: wakes the reader.
    private let stopFD: Int32

    /// Guards `callbacks`, `closed` and `sessions`; waiters sleep on it.
    private let state = NSCondition()
    private var callbacks: [UInt16: CallbackSlot] = [:]
    private var closed = false
    private var sessions: [ObjectIdentifier: PoolSession] = [:]

    init(server: TLSPoolServer, transport: TLSPoolConnection, stopFD: Int32) {
        self.server = server
        self.transport = transport
        self.stopFD = stopFD
    }

    var isClosed: Bool {
        state.lock()
        defer { state.unlock() }
        return closed
    }

    // MARK: - Reader

    /// The reader thread's body: returns when the application disconnects,
    /// breaks the protocol, or the pool stops.
    func readLoop() {
        defer { teardown() }
        var fds = [pollfd(fd: transport.fileDescriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&fds, 2, -1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0, fds[1].revents == 0 else { return }
            do {
                let (records, ended) = try transport.readAvailable(limit: 16)
                for received in records { handle(received) }
                if ended { return }
            } catch {
                server.log("TLS Pool connection dropped: \(error)")
                return
            }
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
            try transport.send(outgoing)
        } catch {
            server.log("TLS Pool reply \(outgoing.command.name) not delivered: \(error)")
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
        let session: PoolSession
        do {
            session = try PoolSession(server: server, owner: self, request: record, cryptFD: cryptFD)
        } catch {
            Descriptors.close(cryptFD)
            return reply(.error(.connectionDriverSetup, "\(error)", reqid: record.reqid))
        }
        state.lock()
        let accepted = !closed
        if accepted { sessions[ObjectIdentifier(session)] = session }
        state.unlock()
        guard accepted else { return session.discard() }
        if let refusal = server.launch(session) {
            state.lock()
            sessions[ObjectIdentifier(session)] = nil
            state.unlock()
            session.discard()
            reply(.error(refusal.code, refusal.message, reqid: record.reqid))
        }
    }

    /// Called by a session thread when it is completely done.
    func sessionEnded(_ session: PoolSession) {
        state.lock()
        sessions[ObjectIdentifier(session)] = nil
        state.unlock()
    }

    // MARK: - Callbacks (pool → application)

    enum CallbackOutcome {
        case answered(ReceivedRecord)
        case disconnected
        case timedOut
        case cancelled
    }

    final class CallbackSlot {
        let session: PoolSession
        var answer: ReceivedRecord?
        var abandoned = false
        init(session: PoolSession) { self.session = session }
    }

    /// Sends `record` as a callback (a free cbid in 1...1024 of this
    /// connection) and blocks the session thread until the application
    /// answers, disconnects, the deadline passes or the session is cancelled.
    func callback(_ record: TLSPoolRecord, for session: PoolSession, deadline: Date) -> CallbackOutcome {
        state.lock()
        guard !closed, let cbid = TLSPoolProtocol.callbackIDRange.first(where: { callbacks[$0] == nil }) else {
            let wasClosed = closed
            state.unlock()
            return wasClosed ? .disconnected : .timedOut
        }
        let slot = CallbackSlot(session: session)
        callbacks[cbid] = slot
        state.unlock()

        var outgoing = record
        outgoing.cbid = cbid
        do {
            try transport.send(outgoing)
        } catch {
            state.lock()
            callbacks[cbid] = nil
            state.unlock()
            return .disconnected
        }

        state.lock()
        defer { state.unlock() }
        while slot.answer == nil && !closed && !slot.abandoned {
            if !state.wait(until: deadline) { break }
        }
        // Only our own slot: once answered, the cbid may already serve another session.
        if callbacks[cbid] === slot { callbacks[cbid] = nil }
        if let answer = slot.answer { return .answered(answer) }
        if slot.abandoned { return .cancelled }
        return closed ? .disconnected : .timedOut
    }

    /// Gives a callback response to its waiting session thread; false when
    /// no callback of this connection waits for that cbid (the record is then
    /// treated as a new command, as upstream does).
    private func deliverCallbackResponse(_ received: ReceivedRecord) -> Bool {
        state.lock()
        defer { state.unlock() }
        guard let slot = callbacks[received.record.cbid], slot.answer == nil, !slot.abandoned else { return false }
        slot.answer = received
        callbacks[received.record.cbid] = nil
        state.broadcast()
        return true
    }

    /// Wakes any callback wait of `session` (it is being cancelled).
    func abandonCallbacks(of session: PoolSession) {
        state.lock()
        for slot in callbacks.values where slot.session === session { slot.abandoned = true }
        state.broadcast()
        state.unlock()
    }

    // MARK: - Teardown

    /// The application is gone: wake callback waiters, stop its sessions
    /// (FORK sessions only become detached), close the socket.
    private func teardown() {
        state.lock()
        closed = true
        state.broadcast()
        let started = Array(sessions.values)
        state.unlock()

        let stopping = server.registry.connectionClosed(self)
        for session in stopping { session.cancel() }
        for session in started where !session.isRegistered { session.cancel() }
        transport.close()
        server.connectionEnded(self)
    }
}
