/// A record's current stage, every stage it entered, and one log line per step.
struct StageTrail<Stage: RawRepresentable> where Stage.RawValue == String {
    let exchange: String
    private let log: (CrossoverEvent) -> Void
    private(set) var current: Stage
    private(set) var history: [Stage]

    init(exchange: String, start: Stage, log: @escaping (CrossoverEvent) -> Void) {
        self.exchange = exchange
        self.log = log
        current = start
        history = [start]
    }

    mutating func enter(_ next: Stage, _ detail: String = "") {
        current = next
        history.append(next)
        log(CrossoverEvent(exchange: exchange, stage: next.rawValue, detail: detail))
    }

    /// Logs which stage failed and why, then moves to `failed`.
    mutating func fail(into failed: Stage, _ error: KXError) {
        log(CrossoverEvent(exchange: exchange, stage: "\(current.rawValue) failed", detail: error.description))
        current = failed
        history.append(failed)
    }
}
