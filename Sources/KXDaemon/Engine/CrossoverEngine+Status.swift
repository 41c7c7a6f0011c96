import Foundation

extension CrossoverEngine {
    /// What `kxover status` shows: exchanges running now, realm pairs in
    /// failure backoff, and the latest outcomes.
    public struct Status: Sendable {
        public struct Running: Sendable {
            public let id: String
            public let what: String
            public let stage: String
            public let seconds: Double
        }
        public struct Backoff: Sendable {
            public let pair: String
            public let failures: Int
            public let retryIn: Double
            public let error: String
        }
        public let running: [Running]
        public let backoffs: [Backoff]
        public let recent: [(at: Double, line: String)]
        public let counters: Counters
    }

    public func status() -> Status {
        let now = Date().timeIntervalSince1970
        var running = inFlight.map { key, entry in
            Status.Running(id: entry.record.id, what: "client \(key.replacingOccurrences(of: ">", with: " → "))",
                           stage: entry.record.stage.rawValue, seconds: Self.seconds(since: entry.started))
        }
        running += serverRecords.map { id, entry in
            Status.Running(id: id, what: "server", stage: entry.record.stage.rawValue, seconds: Self.seconds(since: entry.started))
        }
        let backoffs = failures.filter { $0.value.until > now }.map { pair, failure in
            Status.Backoff(pair: pair.replacingOccurrences(of: ">", with: " → "), failures: failure.streak,
                           retryIn: failure.until - now, error: failure.error.description)
        }
        return Status(running: running.sorted { $0.id < $1.id }, backoffs: backoffs.sorted { $0.pair < $1.pair },
                      recent: recent, counters: counters)
    }
}
