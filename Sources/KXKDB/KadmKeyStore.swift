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

    public init(configuration: KadminConfiguration, executor: LoopExecutor) {
        self.configuration = configuration
        self.executor = executor
        worker = KadminWorker(configuration: configuration)
    }

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
    func submitJob<T: Sendable>(_ completion: @escaping (Result<T, KXError>) -> Void,
                                     _ job: @escaping @Sendable (KadminSession) throws -> T) {
        let bound = LoopBound(completion, executor: executor)
        let executor = self.executor
        let realm = configuration.realm
        worker.submit { sessions in
            let result: Result<T, KXError>
            do {
                result = .success(try job(try sessions.session()))
            } catch {
                // The handle may be in doubt (kadmind restarted, KDB replaced): reopen next time.
                sessions.discard()
                result = .failure(KXError(.keyStoring, "\(realm): \(error)"))
            }
            executor.execute { bound.value(result) }
        }
    }
}

/// One thread that owns one realm's kadm5 session and runs jobs in order.
final class KadminWorker: @unchecked Sendable {
    // @unchecked: `jobs` and `stopping` are guarded by `condition`; the
    // session is touched only by the worker thread.
    typealias Job = @Sendable (Sessions) -> Void

    /// The worker thread's session, opened on first use.
    final class Sessions {
        private let configuration: KadminConfiguration
        private var current: KadminSession?

        init(_ configuration: KadminConfiguration) { self.configuration = configuration }

        func session() throws -> KadminSession {
            if let current { return current }
            let opened = try KadminSession(configuration)
            current = opened
            return opened
        }

        func discard() { current = nil }
    }

    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var stopping = false
    private var busy = false
    private let configuration: KadminConfiguration

    init(configuration: KadminConfiguration) {
        self.configuration = configuration
        let thread = Thread { [self] in run() }
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
        condition.signal()
        condition.unlock()
    }

    private func run() {
        let sessions = Sessions(configuration)
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty && stopping {
                condition.unlock()
                return
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
    }
}
