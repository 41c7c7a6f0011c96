/// What both crossover records share and how they end: the stage trail,
/// what is held (the operation in flight, the stage timer, the overall
/// deadline, exported key bytes), and the completion, reported exactly once.
/// A record describes its stages; this unwinds them.
final class RecordRun<Stage: RecordStage, Success> {
    private(set) var trail: StageTrail<Stage>
    let hold: ExchangeHold
    private var completion: ((Result<Success, KXError>) -> Void)?
    private let failed: Stage
    /// The stage an exchange failed in (nil while it runs or after success).
    private(set) var failedIn: Stage?

    init(exchange: String, start: Stage, failed: Stage, timers: Timers, log: @escaping (CrossoverEvent) -> Void,
         completion: @escaping (Result<Success, KXError>) -> Void) {
        trail = StageTrail(exchange: exchange, start: start, uptime: { [timers] in timers.uptime }, log: log)
        hold = ExchangeHold(timers: timers)
        self.failed = failed
        self.completion = completion
    }

    var isDone: Bool { completion == nil }
    var stage: Stage { trail.current }

    func enter(_ next: Stage, _ detail: String = "") {
        trail.enter(next, detail)
    }

    /// Enters the final stage and reports `success`.
    func succeed(_ final: Stage, _ detail: String, _ success: Success, release: () -> Void = {}) {
        trail.enter(final, detail, final: true)
        finish(.success(success), release: release)
    }

    /// Arms the stage's own bound (one timer: arming replaces the last one).
    func arm(_ seconds: Double, onTimeout: @escaping () -> Void) {
        hold.armStage(seconds, onTimeout)
    }

    /// Logs the failure in the current stage and moves to `failed`; false if
    /// the exchange had already ended (a second failure is not reported).
    @discardableResult
    func markFailed(_ error: KXError) -> Bool {
        guard completion != nil, failedIn == nil else { return false }
        failedIn = trail.current
        trail.fail(into: failed, error)
        return true
    }

    /// Releases everything held, runs `release` (the record's own resources,
    /// such as a connection), and reports `result` if nothing was reported yet.
    func finish(_ result: Result<Success, KXError>, release: () -> Void = {}) {
        hold.releaseAll()
        release()
        guard let completion else { return }
        self.completion = nil
        completion(result)
    }
}
