import KXOver

/// Two kxoverds of one realm (one beside each KDC, sharing the KDB) may cross
/// to the same new realm at the same moment. The peer's service side makes
/// one key for the pair and refuses the other KX-REQ: RATE_LIMITED when the
/// first key was already stored there, KEY_STORING when both asked before
/// either key was stored (same kvno, different bytes). The refused kxoverd's
/// users then need the key its sibling is about to store in the shared KDB:
/// this waits for it, reading the KDB every `interval` up to `bound`
/// seconds, before the held request goes on to krb5kdc.
final class SiblingKeyWait {
    /// Refusals that mean another exchange for the pair got there first.
    static func applies(to error: KXError) -> Bool {
        error.refusedBy != nil && (error.code == .rateLimited || error.code == .keyStoring)
    }

    private let principal: Principal
    private let store: KeyStore
    private let timers: Timers
    private let clock: Clock
    private let interval: Double
    private var reads: Int
    private var completion: ((Bool) -> Void)?

    /// `bound` / `interval` reads at most, the first at once.
    init(principal: Principal, store: KeyStore, timers: Timers, clock: Clock, bound: Double = 3, interval: Double = 0.1) {
        self.principal = principal
        self.store = store
        self.timers = timers
        self.clock = clock
        self.interval = interval
        reads = max(1, Int((bound / interval).rounded(.down)))
    }

    /// `completion(true)` once the KDB holds a usable key, `false` at the bound.
    func start(completion: @escaping (Bool) -> Void) {
        self.completion = completion
        read()
    }

    private func read() {
        reads -= 1
        store.inspect(principal) { [self] result in
            if case .success(.managed(let set)) = result, ExchangeDesk<Void>.hasUsableKey(set, now: clock.now) {
                return finish(true)
            }
            guard reads > 0 else { return finish(false) }
            timers.schedule(after: interval) { [self] in read() }
        }
    }

    private func finish(_ found: Bool) {
        let done = completion
        completion = nil
        done?(found)
    }
}
