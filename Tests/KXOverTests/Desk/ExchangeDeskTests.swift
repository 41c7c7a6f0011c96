import KXOver
import Testing

/// The exchange desk: joining, backoff, draining, limits and the usable-key
/// rule, driven with an explicit clock (seconds) and waiters that are numbers.
@Suite("exchange desk")
struct ExchangeDeskTests {
    typealias Desk = ExchangeDesk<Int>
    let pair = Desk.Pair(localRealm: "A.TEST", target: "B.TEST")
    let other = Desk.Pair(localRealm: "A.TEST", target: "C.TEST")
    let failure = KXError(.dnssecKDC, "no secure SRV")

    func desk(maxInFlight: Int = 256, perMinute: Int = 600) -> Desk {
        Desk(admission: ExchangeAdmission(maxInFlight: maxInFlight, perMinute: perMinute))
    }

    func isStart(_ decision: Desk.Decision) -> Bool { if case .start = decision { true } else { false } }
    func isJoin(_ decision: Desk.Decision) -> Bool { if case .join = decision { true } else { false } }
    func refusal(_ decision: Desk.Decision) -> Desk.Refusal? { if case .refuse(_, let why) = decision { why } else { nil } }

    @Test func concurrentRequestsJoinOneExchange() {
        var desk = desk()
        #expect(isStart(desk.request(pair, waiter: 1, now: 0)))
        #expect(isJoin(desk.request(pair, waiter: 2, now: 0.1)))
        #expect(isStart(desk.request(other, waiter: 3, now: 0.1)))
        let first = desk.finished(pair, failure: nil, now: 1)
        let second = desk.finished(other, failure: nil, now: 1)
        #expect(first == [1, 2])
        #expect(second == [3])
        #expect(desk.running.isEmpty)
    }

    @Test func failuresBackOffWithAGrowingStreak() {
        var desk = desk()
        _ = desk.request(pair, waiter: 1, now: 0)
        _ = desk.finished(pair, failure: failure, now: 1)
        #expect(refusal(desk.request(pair, waiter: 2, now: 6)) == .backoff)
        if case .refuse(let error, _) = desk.request(pair, waiter: 2, now: 6) {
            #expect(error.code == .dnssecKDC)
            #expect(error.detail.contains("failed 1x; next attempt in 5 s"))
        }
        // Another pair is not held back.
        #expect(isStart(desk.request(other, waiter: 3, now: 6)))
        #expect(isStart(desk.request(pair, waiter: 4, now: 11)))
        _ = desk.finished(pair, failure: failure, now: 12)
        #expect(desk.backoffs[pair]?.streak == 2)
        #expect(desk.backoffs[pair]?.until == 32)   // 20 s after the second failure
        #expect(refusal(desk.request(pair, waiter: 5, now: 31)) == .backoff)
        #expect(isStart(desk.request(pair, waiter: 6, now: 32)))
        // A success ends the streak.
        _ = desk.finished(pair, failure: nil, now: 33)
        #expect(desk.backoffs[pair] == nil)
    }

    @Test func backoffIsBoundedAtTenMinutes() {
        #expect(Desk.backoffSeconds(streak: 1) == 10)
        #expect(Desk.backoffSeconds(streak: 3) == 40)
        #expect(Desk.backoffSeconds(streak: 7) == 600)
        #expect(Desk.backoffSeconds(streak: 500) == 600)
    }

    /// The administrator-safety case: a key removed by hand must not leave the
    /// pair waiting out a backoff from an earlier failure.
    @Test func aRemovedKeyClearsTheBackoff() {
        var desk = desk()
        _ = desk.request(pair, waiter: 1, now: 0)
        _ = desk.finished(pair, failure: failure, now: 0)
        let cleared = desk.keyRemoved(pair)
        #expect(cleared)
        #expect(isStart(desk.request(pair, waiter: 2, now: 1)))
        let clearedOther = desk.keyRemoved(other)
        #expect(!clearedOther)
    }

    @Test func drainingRefusesNewExchangesButJoinsRunningOnes() {
        var desk = desk()
        _ = desk.request(pair, waiter: 1, now: 0)
        desk.beginDraining()
        #expect(isJoin(desk.request(pair, waiter: 2, now: 0)))
        #expect(refusal(desk.request(other, waiter: 3, now: 0)) == .draining)
        let server = desk.admitServer(now: 0)
        #expect(server?.code == .cancelled)
    }

    @Test func limitsCountClientAndServerExchanges() {
        var desk = desk(maxInFlight: 2)
        #expect(isStart(desk.request(pair, waiter: 1, now: 0)))
        desk.serverSessions = 1
        #expect(refusal(desk.request(other, waiter: 2, now: 0)) == .limits)
        let full = desk.admitServer(now: 0)
        #expect(full?.code == .rateLimited)
        desk.serverSessions = 0
        let free = desk.admitServer(now: 0)
        #expect(free == nil)
        // A refusal by the limits is no failure: no backoff.
        #expect(desk.backoffs[other] == nil)
    }

    @Test func theRateTokenBucketRefills() {
        var desk = desk(perMinute: 2)
        #expect(isStart(desk.request(pair, waiter: 1, now: 0)))
        #expect(isStart(desk.request(other, waiter: 2, now: 0)))
        let third = Desk.Pair(localRealm: "A.TEST", target: "D.TEST")
        #expect(refusal(desk.request(third, waiter: 3, now: 1)) == .limits)
        #expect(isStart(desk.request(third, waiter: 4, now: 31)))   // one token per 30 s
    }

    @Test func oldBackoffsArePruned() {
        var desk = desk()
        _ = desk.request(pair, waiter: 1, now: 0)
        _ = desk.finished(pair, failure: failure, now: 0)
        desk.prune(now: 100)
        #expect(desk.backoffs[pair] != nil)
        desk.prune(now: 611)
        #expect(desk.backoffs[pair] == nil)
        #expect(desk.activeBackoffs(now: 611).isEmpty)
    }

    @Test func aUsableKeyIsOneWhoseValidityCoversNow() throws {
        let now = KerberosTime(secondsSinceEpoch: 1_800_000_000)!
        let principal = Principal.crossover(client: "A.TEST", service: "B.TEST")
        func set(_ versions: [(from: Int64?, till: Int64?)]) -> ManagedKeySet {
            ManagedKeySet(principal: principal, versions: versions.enumerated().map { i, v in
                .init(kvno: UInt32(i + 1), etypes: [18], from: v.from.flatMap { now.adding(seconds: $0) }, till: v.till.flatMap { now.adding(seconds: $0) })
            })
        }
        #expect(Desk.hasUsableKey(set([(-10, 10)]), now: now))
        #expect(!Desk.hasUsableKey(set([(-10, -1)]), now: now))   // expired
        #expect(!Desk.hasUsableKey(set([(-10, 0)]), now: now))    // ends now
        #expect(!Desk.hasUsableKey(set([(5, 100)]), now: now))    // not yet valid
        #expect(!Desk.hasUsableKey(set([(nil, nil)]), now: now))  // no validity record
        #expect(Desk.hasUsableKey(set([(nil, 10)]), now: now))
        #expect(Desk.hasUsableKey(set([(-10, -1), (-1, 100)]), now: now))
        #expect(!Desk.hasUsableKey(set([]), now: now))            // keyless (a store cut short)
    }

    /// A flood of STARTTLS words spends the inbound budget only: our users'
    /// exchanges and renewals still start.
    @Test func aStartTLSFloodCannotStopOurExchanges() {
        var desk = desk(perMinute: 5)
        desk.startTLSPerSource.perMinute = 1000
        for n in 0..<5 { #expect(desk.admitServer(now: 0, address: [10, 0, UInt8(n), 1]) == nil) }
        #expect(desk.admitServer(now: 0, address: [10, 0, 9, 1])?.code == .rateLimited, "the inbound budget is spent")
        #expect(isStart(desk.request(pair, waiter: 1, now: 0)), "ours has its own")
    }

    /// Renewals are bounded by the exchanges in flight only.
    @Test func renewalsAreNotRefusedByThePerMinuteBudget() {
        var desk = desk(maxInFlight: 3, perMinute: 1)
        #expect(isStart(desk.request(pair, waiter: 1, now: 0)))
        #expect(refusal(desk.request(other, waiter: 2, now: 0)) == .limits, "a new exchange: the minute's one is used")
        #expect(isStart(desk.request(other, waiter: 3, now: 0, renewal: true)))
        let third = Desk.Pair(localRealm: "CLIENT.TEST", target: "THIRD.TEST")
        #expect(isStart(desk.request(third, waiter: 4, now: 0, renewal: true)))
        let fourth = Desk.Pair(localRealm: "CLIENT.TEST", target: "FOURTH.TEST")
        #expect(refusal(desk.request(fourth, waiter: 5, now: 0, renewal: true)) == .limits, "in flight: 3 of 3")
    }

    /// One network's STARTTLS words are limited on their own, before the
    /// budget everyone shares.
    @Test func oneNetworkIsLimitedWithoutSpendingTheSharedBudget() {
        var desk = desk(perMinute: 100)
        desk.startTLSPerSource.perMinute = 3
        for _ in 0..<3 { #expect(desk.admitServer(now: 0, address: [192, 0, 2, 7]) == nil) }
        let refused = desk.admitServer(now: 0, address: [192, 0, 2, 200])   // the same /24
        #expect(refused?.code == .rateLimited && refused?.detail.contains("max_starttls_per_source_per_minute") == true)
        for _ in 0..<50 { #expect(desk.admitServer(now: 0, address: [192, 0, 2, 7]) != nil) }
        // The refused words spent nothing shared: 97 other networks still get in, the 98th not.
        for n in 0..<97 { #expect(desk.admitServer(now: 0, address: [198, 51, UInt8(n), 1]) == nil) }
        #expect(desk.admitServer(now: 0, address: [203, 0, 113, 1])?.detail.contains("in the last minute") == true)
        // A minute later the network may send again (and the shared bucket has refilled).
        #expect(desk.admitServer(now: 61, address: [192, 0, 2, 7]) == nil)
    }
}

extension ExchangeDesk {
    /// The whole STARTTLS path as the engine asks it: the source's own rate,
    /// then the shared inbound budget.
    mutating func admitServer(now: Double, address: [UInt8]) -> KXError? {
        admitStartTLS(from: address, now: now) ?? admitServer(now: now)
    }
}
