/// A record's current stage, every stage it entered, and one typed event per
/// step, timed on the Timers port's monotonic clock.
struct StageTrail<Stage: RecordStage> {
    let exchange: String
    private let log: (CrossoverEvent) -> Void
    private let uptime: () -> Double
    private let began: Double
    /// When the current stage was entered.
    private var since: Double
    private(set) var current: Stage
    private(set) var history: [Stage]

    init(exchange: String, start: Stage, uptime: @escaping () -> Double, log: @escaping (CrossoverEvent) -> Void) {
        self.exchange = exchange
        self.log = log
        self.uptime = uptime
        began = uptime()
        since = began
        current = start
        history = [start]
    }

    /// `final`: the exchange ends well with this stage.
    mutating func enter(_ next: Stage, _ detail: String = "", final: Bool = false) {
        let (ended, now) = closeCurrent()
        current = next
        since = now
        history.append(next)
        log(CrossoverEvent(exchange: exchange, stage: next.crossoverStage, outcome: final ? .finished : .entered, detail: detail,
                           elapsed: now - began, ended: ended))
    }

    /// Logs which stage failed and why, then moves to `failed`.
    mutating func fail(into failed: Stage, _ error: KXError) {
        let (ended, now) = closeCurrent()
        log(CrossoverEvent(exchange: exchange, stage: current.crossoverStage, outcome: .failed(error.code), detail: error.description,
                           elapsed: now - began, ended: ended))
        current = failed
        since = now
        history.append(failed)
    }

    /// The current stage with the time spent in it (monotonic, never
    /// negative); nil for the start stage, which no event announced.
    private func closeCurrent() -> (CrossoverEvent.StageTime?, Double) {
        let now = max(uptime(), since)
        guard history.count > 1 else { return (nil, now) }
        return (CrossoverEvent.StageTime(stage: current.crossoverStage, seconds: now - since), now)
    }
}
