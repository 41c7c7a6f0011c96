/// A record's current stage, every stage it entered, and one typed event per step.
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

    /// `final`: the exchange ends well with this stage.
    mutating func enter(_ next: Stage, _ detail: String = "", final: Bool = false) {
        current = next
        history.append(next)
        log(CrossoverEvent(exchange: exchange, stage: next.rawValue, outcome: final ? .finished : .entered, detail: detail))
    }

    /// Logs which stage failed and why, then moves to `failed`.
    mutating func fail(into failed: Stage, _ error: KXError) {
        log(CrossoverEvent(exchange: exchange, stage: current.rawValue, outcome: .failed(error.code), detail: error.description))
        current = failed
        history.append(failed)
    }
}
