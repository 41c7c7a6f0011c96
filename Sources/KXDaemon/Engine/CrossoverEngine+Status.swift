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
        let now = self.now
        var running = clientRecords.map { pair, entry in
            Status.Running(id: entry.record.id, what: "client \(pair)",
                           stage: entry.record.stage.rawValue, seconds: seconds(since: entry.started))
        }
        running += serverRecords.map { id, entry in
            Status.Running(id: id, what: "server", stage: entry.record.stage.rawValue, seconds: seconds(since: entry.started))
        }
        let backoffs = desk.activeBackoffs(now: now).map { pair, backoff in
            Status.Backoff(pair: "\(pair)", failures: backoff.streak, retryIn: backoff.until - now, error: backoff.error.description)
        }
        return Status(running: running.sorted { $0.id < $1.id }, backoffs: backoffs, recent: recent, counters: counters)
    }
}
