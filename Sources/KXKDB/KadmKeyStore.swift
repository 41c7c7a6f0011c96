import Foundation
import KXEventLoop
import KXOver

/// The key store kxoverd uses: kadm5 calls block, so they run on one worker
/// thread per realm, and each completion is posted back to the event loop
/// that asked. The kadm5 handle stays open between jobs (a write then costs
/// well under a millisecond) and is reopened after a failure.
public final class KadmKeyStore: KeyStore {
    public let configuration: KadminConfiguration
    private let executor: LoopExecutor
    private let worker: KadminWorker

    private let notices = NoticeSink()

    /// `faults` is for tests only: it makes stores fail between their steps.
    public init(configuration: KadminConfiguration, executor: LoopExecutor, faults: KadminFaults? = nil) {
        self.configuration = configuration
        self.executor = executor
        worker = KadminWorker(configuration: configuration, faults: faults)
    }

    /// Receives, on the loop, a line for each undo the worker completes late.
    public func onNotice(_ handler: @escaping (String) -> Void) { notices.value = handler }

    deinit {
        worker.shutdown()
    }

    /// Lets the job running now (a key write is several kadm5 calls) and the
    /// queued ones finish, up to `timeout` seconds; true if the worker is idle.
    /// kxoverd calls it before exiting so that no write is cut in half.
    public func finishPendingWork(timeout: Double) -> Bool {
        worker.waitUntilIdle(timeout: timeout)
    }

    public func inspect(_ principal: Principal, completion: @escaping (Result<KeyStoreEntry, KXError>) -> Void) {
        submitJob(completion) { session in try session.entry(principal) }
    }

    public func store(_ write: CrossoverKeyWrite, completion: @escaping (Result<KeyWriteOutcome, KXError>) -> Void) {
        submitJob(completion) { session in try session.write(write) }
    }

    /// Runs `job` on the worker; its result comes back on the loop thread.
    /// An undo left pending by an earlier store runs first, so the KDB is put
    /// back as soon as it answers again.
    func submitJob<T: Sendable>(_ completion: @escaping (Result<T, KXError>) -> Void,
                                     _ job: @escaping @Sendable (KadminSession) throws -> T) {
        let bound = LoopBound(completion, executor: executor)
        let executor = self.executor
        let realm = configuration.realm
        let notices = self.notices
        worker.submit { sessions in
            let result: Result<T, KXError>
            do {
                let session = try sessions.session()
                for line in sessions.retryPendingUndos(session) { executor.execute { notices.value?(line) } }
                result = .success(try job(session))
            } catch {
                if let failure = error as? KeyStoreFailure, let undo = failure.pendingUndo { sessions.pendingUndos.append(undo) }
                // The handle may be in doubt (kadmind restarted, KDB replaced): reopen next time.
                sessions.discard()
                result = .failure(KXError(.keyStoring, "\(realm): \(error)"))
            }
            executor.execute { bound.value(result) }
        }
    }

    /// Stops the worker once its queue is empty and waits (up to `timeout`
    /// seconds) for its thread to end, with the kadm5 handle closed: libkrb5
    /// must not be inside a call on another thread while the process exits.
    @discardableResult
    public func close(timeout: Double) -> Bool {
        worker.shutdownAndJoin(timeout: timeout)
    }
}

/// Lines for the log from the worker thread (undos carried out), delivered on the loop.
final class NoticeSink: @unchecked Sendable {
    // @unchecked: set once on the loop thread before any job is submitted.
    var value: ((String) -> Void)?
}

/// One thread that owns one realm's kadm5 session and runs jobs in order.
final class KadminWorker: @unchecked Sendable {
    // @unchecked: `jobs`, `stopping`, `busy` and `ended` are guarded by
    // `condition`; the session is touched only by the worker thread.
    typealias Job = @Sendable (Sessions) -> Void

    /// The worker thread's session, opened on first use, and the undos of
    /// stores that could not be put back at once.
    final class Sessions {
        private let configuration: KadminConfiguration
        private var current: KadminSession?
        var pendingUndos: [KeyStoreUndo] = []
        var faults: KadminFaults?

        init(_ configuration: KadminConfiguration, faults: KadminFaults?) {
            self.configuration = configuration
            self.faults = faults
        }

        func session() throws -> KadminSession {
            if let current { return current }
            let opened = try KadminSession(configuration)
            opened.faults = faults
            current = opened
            return opened
        }

        /// Carries out the pending undos it can; the rest stay pending.
        func retryPendingUndos(_ session: KadminSession) -> [String] {
            guard !pendingUndos.isEmpty else { return [] }
            var done: [String] = []
            pendingUndos = pendingUndos.filter { undo in
                do {
                    try session.undo(undo)
                    done.append("\(configuration.realm): completed a pending undo of an incomplete store: \(undo)")
                    return false
                } catch {
                    return true
                }
            }
            return done
        }

        func discard() { current = nil }
    }

    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var stopping = false
    private var busy = false
    private var ended = false
    private let configuration: KadminConfiguration

    init(configuration: KadminConfiguration, faults: KadminFaults? = nil) {
        self.configuration = configuration
        let thread = Thread { [self] in run(faults: faults) }
        thread.name = "kadm5-\(configuration.realm)"
        thread.start()
    }

    func submit(_ job: @escaping Job) {
        condition.lock()
        jobs.append(job)
        condition.broadcast()
        condition.unlock()
    }

    func waitUntilIdle(timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while busy || !jobs.isEmpty {
            if !condition.wait(until: deadline) { return !busy && jobs.isEmpty }
        }
        return true
    }

    func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    /// Lets queued jobs finish, then ends the thread; true once it has ended.
    func shutdownAndJoin(timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        condition.broadcast()
        while !ended {
            if !condition.wait(until: deadline) { return ended }
        }
        return true
    }

    private func run(faults: KadminFaults?) {
        do {
            // The session (and its kadm5 handle) is released inside this scope,
            // on this thread, before `ended` says the thread is done.
            let sessions = Sessions(configuration, faults: faults)
            while true {
                condition.lock()
                while jobs.isEmpty && !stopping { condition.wait() }
                if jobs.isEmpty && stopping {
                    condition.unlock()
                    break
                }
                let job = jobs.removeFirst()
                busy = true
                condition.unlock()
                job(sessions)
                condition.lock()
                busy = false
                condition.broadcast()
                condition.unlock()
            }
            sessions.discard()
        }
        condition.lock()
        ended = true
        condition.broadcast()
        condition.unlock()
    }
}
