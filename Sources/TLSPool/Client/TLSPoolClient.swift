import Foundation
import KXEventLoop

/// The application side of a pool connection: the Swift mirror of
/// `tlspool_async_pool` (spec §5.1–5.2), driven by the event loop.
///
/// Every record the pool sends consumes exactly one pending request, matched
/// by reqid (never by cbid). Answering a callback is therefore a *new*
/// request: a fresh reqid, the callback's cbid kept in the record. The class
/// lives on its loop's thread and is deliberately not Sendable.
public final class TLSPoolClient {
    public typealias Handler = (TLSPoolRecord) -> Void

    public let connection: TLSPoolConnection
    public let loop: EventLoop
    /// Diagnostics without secrets (records are summarised, never dumped).
    public var log: (String) -> Void = { _ in }

    /// The pool's PING answer, once a PING has completed on this connection.
    public private(set) var introduction: PingPayload?
    public private(set) var isClosed = false
    /// Called once when the connection ends (EOF, error or `close()`).
    public var onClose: ((TLSPoolError) -> Void)?

    private struct Pending {
        /// nil once cancelled: the reply is dropped (or a callback refused).
        var handler: Handler?
        var timer: Watch?
    }

    private var pending: [UInt16: Pending] = [:]
    private var readWatch: Watch?

    /// Records not yet (wholly) written: the loop never blocks on a full
    /// socket, because the pool may at that moment be blocked writing its
    /// answers to us (a deadlock once both directions fill up). `fd` is our
    /// own duplicate of a descriptor still to be passed, closed once sent.
    private struct Outgoing {
        var bytes: [UInt8]
        var offset: Int
        var fd: Int32?
    }
    private var outbox: [Outgoing] = []
    private var writeWatch: Watch?

    /// Starts watching `connection` for records on `loop`.
    public init(connection: TLSPoolConnection, loop: EventLoop) {
        self.connection = connection
        self.loop = loop
        readWatch = loop.watch(fd: connection.fileDescriptor, events: .readable) { [weak self] _ in
            self?.process()
        }
    }

    /// Connects to a pool listening on `path`.
    public static func connect(path: String, loop: EventLoop) throws -> TLSPoolClient {
        TLSPoolClient(connection: try TLSPoolConnection.connect(path: path), loop: loop)
    }

    deinit {
        readWatch?.cancel()
        writeWatch?.cancel()
        for item in outbox { if let fd = item.fd { Descriptors.close(fd) } }
        for entry in pending.values { entry.timer?.cancel() }
    }

    public var pendingCount: Int { pending.count }

    // MARK: - request / process / cancel / close

    /// Sends `record` under a fresh random non-zero reqid (written into the
    /// record) and calls `handler` with the one record that answers it, or
    /// with a synthesised ERROR on timeout or disconnect. `fd` is passed by
    /// SCM_RIGHTS and stays the caller's. Returns the reqid.
    @discardableResult
    public func request(_ record: TLSPoolRecord, passing fd: Int32? = nil, timeout seconds: Double? = nil,
                        handler: @escaping Handler) throws -> UInt16 {
        guard !isClosed else { throw TLSPoolError.disconnected }
        let reqid = try freshRequestID()
        var outgoing = record
        outgoing.reqid = reqid
        do {
            try enqueue(outgoing.encoded(), passing: fd)
        } catch {
            let failure = TLSPoolError.transport(error)
            log("TLS Pool send failed: \(failure)")
            // Upstream leaves the entry behind here; we never register it.
            closeAfterFailure(failure)
            throw failure
        }
        var entry = Pending(handler: handler)
        if let seconds {
            entry.timer = loop.schedule(after: seconds) { [weak self] in
                self?.expire(reqid, after: seconds)
            }
        }
        pending[reqid] = entry
        return reqid
    }

    /// Writes `bytes` now if the socket takes them, else queues the rest
    /// (in order) for when it is writable.
    private func enqueue(_ bytes: [UInt8], passing fd: Int32?) throws {
        var item = Outgoing(bytes: bytes, offset: 0, fd: nil)
        if outbox.isEmpty {
            item.offset = try connection.sendSome(bytes, from: 0, passing: fd)
            if item.offset == bytes.count {
                item.bytes.wipe()
                return
            }
        }
        if item.offset == 0, let fd {
            let copy = dup(fd)   // the caller keeps (and may close) its own
            guard copy >= 0 else { throw TLSPoolTransportError.system("dup", errno) }
            item.fd = copy
        }
        outbox.append(item)
        if writeWatch == nil {
            writeWatch = loop.watch(fd: connection.fileDescriptor, events: .writable) { [weak self] _ in self?.flush() }
        }
    }

    private func flush() {
        do {
            while !outbox.isEmpty {
                let sent = try connection.sendSome(outbox[0].bytes, from: outbox[0].offset, passing: outbox[0].fd)
                outbox[0].offset = sent
                guard sent == outbox[0].bytes.count else { return }   // still full: wait for POLLOUT again
                var done = outbox.removeFirst()
                done.bytes.wipe()
                if let fd = done.fd { Descriptors.close(fd) }
            }
            writeWatch?.cancel()
            writeWatch = nil
        } catch {
            closeAfterFailure(TLSPoolError.transport(error))
        }
    }

    /// Reads every available record and hands each to its request. Called by
    /// the loop when the socket is readable; harmless to call at any time.
    public func process() {
        guard !isClosed else { return }
        var batch: [ReceivedRecord]
        var ended: Bool
        do {
            (batch, ended) = try connection.readAvailable()
        } catch {
            closeAfterFailure(TLSPoolError.transport(error))
            return
        }
        for index in batch.indices {
            let received = batch[index]
            batch[index] = ReceivedRecord(record: TLSPoolRecord(command: .success), passedFD: nil)
            // The pool never passes descriptors to applications (spec §1.8).
            if let fd = received.passedFD {
                log("TLS Pool passed an unexpected descriptor with \(received.record.command.name); closed")
                Descriptors.close(fd)
            }
            guard !isClosed else { continue }
            dispatch(received.record)
        }
        if ended && !isClosed { closeAfterFailure(.disconnected) }
    }

    /// Stops waiting for `reqid`: its reply will be dropped, and a callback
    /// arriving for it refused, so the pool never hangs ("divert", spec §5.1).
    public func cancel(_ reqid: UInt16) {
        guard var entry = pending[reqid] else { return }
        entry.timer?.cancel()
        entry.timer = nil
        entry.handler = nil
        pending[reqid] = entry
    }

    /// Closes the connection and fails every pending request with
    /// EPIPE "Disconnected from the TLS Pool".
    public func close() {
        closeAfterFailure(.disconnected)
    }

    // MARK: - PING

    /// PING with our identity; succeeds when the pool offers `required`.
    public func ping(required: Facilities = .startTLS, timeout: Double = 10,
                     completion: @escaping (Result<PingPayload, TLSPoolError>) -> Void) {
        var record = TLSPoolRecord(command: .ping)
        record.ping.identity = TLSPoolProtocol.identityV2
        record.ping.facilities = required.union(.allCurrent)
        do {
            try request(record, timeout: timeout) { [weak self] reply in
                switch reply.command {
                case .ping:
                    let answer = reply.ping
                    guard answer.facilities.isSuperset(of: required) else {
                        completion(.failure(TLSPoolError(code: ENOSYS, message: "the TLS Pool does not offer facilities 0x\(String(required.rawValue, radix: 16))")))
                        return
                    }
                    self?.introduction = answer
                    completion(.success(answer))
                case .error:
                    completion(.failure(TLSPoolError(record: reply)))
                default:
                    completion(.failure(.protocolViolation("PING answered with \(reply.command.name)")))
                }
            }
        } catch {
            completion(.failure(error as? TLSPoolError ?? .transport(error)))
        }
    }

    // MARK: - Internals

    private func dispatch(_ record: TLSPoolRecord) {
        guard let entry = pending.removeValue(forKey: record.reqid) else {
            if Self.isCallback(record) {
                refuse(record, because: "no pending request \(record.reqid) for this callback")
            } else {
                log("TLS Pool record for no pending request dropped: \(record)")
            }
            return
        }
        entry.timer?.cancel()
        guard let handler = entry.handler else {
            if Self.isCallback(record) { refuse(record, because: "the request was cancelled") }
            return
        }
        handler(record)
    }

    /// Pool→application callbacks that a pool thread blocks on until answered.
    /// (A final STARTTLS may carry a stale cbid, so cbid alone says nothing.)
    static func isCallback(_ record: TLSPoolRecord) -> Bool {
        guard record.cbid != 0 else { return false }
        switch record.command {
        case .startTLSLocalID, .plaintextConnect, .lidEntryCallback, .pinEntry: return true
        default: return false
        }
    }

    /// Answers a callback nobody wants with ERROR E_TLSPOOL_CLIENT_REFUSES_CALLBACK.
    private func refuse(_ callback: TLSPoolRecord, because reason: String) {
        log("refusing TLS Pool callback \(callback.command.name) cbid=\(callback.cbid): \(reason)")
        let refusal = TLSPoolRecord.error(.clientRefusesCallback, "callback refused: \(reason)", cbid: callback.cbid)
        // The pool answers the refusal (final ERROR); that answer needs a home.
        _ = try? request(refusal) { _ in }
    }

    private func expire(_ reqid: UInt16, after seconds: Double) {
        guard let entry = pending[reqid], let handler = entry.handler else { return }
        // Keep the slot, diverted, so a late reply is dropped (or refused) rather than misrouted.
        pending[reqid] = Pending(handler: nil, timer: nil)
        handler(TLSPoolError.timedOut("TLS Pool request", after: seconds).record(reqid: reqid))
    }

    private func freshRequestID() throws -> UInt16 {
        guard pending.count < Int(UInt16.max) else {
            throw TLSPoolError(code: EAGAIN, message: "every TLS Pool request id is in use")
        }
        while true {
            let candidate = SystemRandom.uint16()
            // 0 is what the pool uses for its own disconnect errors.
            if candidate != 0 && pending[candidate] == nil { return candidate }
        }
    }

    private func closeAfterFailure(_ failure: TLSPoolError) {
        guard !isClosed else { return }
        isClosed = true
        readWatch?.cancel()
        readWatch = nil
        writeWatch?.cancel()
        writeWatch = nil
        for item in outbox { if let fd = item.fd { Descriptors.close(fd) } }
        outbox.removeAll()
        connection.close()
        let failed = pending
        pending.removeAll()
        for (reqid, entry) in failed {
            entry.timer?.cancel()
            entry.handler?(TLSPoolError.disconnected.record(reqid: reqid))
        }
        onClose?(failure)
        onClose = nil
    }
}
