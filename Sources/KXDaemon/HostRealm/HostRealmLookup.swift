import Foundation
import KXEventLoop
import KXOver

/// Hosts' realms for the crossover engine and the hostrealm socket, through
/// one `HostRealmCache` (core) that both share: the engine resolves a host
/// before it lets a referral request reach krb5kdc, and the KDC's module asks
/// about the same host moments later, from the cache only (`cached`).
///
/// Identical hosts in flight are looked up once; a lookup goes on when its
/// askers give up (its answer fills the cache for the next question). Two
/// bounds, beyond which a new host is "busy" (not remembered): at most
/// `maxPrefetches` lookups started by the module's misses (`prefetch`, which
/// anyone holding a TGT can cause for names of their choosing), and at most
/// `maxInFlight` in all. A flood of misses therefore never takes the room of a
/// lookup the engine needs for a request it holds (those are bounded by the
/// hold budget). Runs on the event loop.
public final class HostRealmLookup {
    public static let defaultMaxInFlight = 256
    public static let defaultMaxPrefetches = 32

    private let lookups: KXOverLookups
    private let now: () -> Double
    private let maxInFlight: Int
    private let maxPrefetches: Int
    private(set) var cache: HostRealmCache
    private var pending: [String: [Waiter]] = [:]
    /// Hosts in `pending` that no one waits for (started by `prefetch`).
    private var prefetching: Set<String> = []

    public private(set) var hits = 0
    public private(set) var misses = 0
    public private(set) var busy = 0

    /// `now` is a monotonic clock in seconds (tests pass their own).
    public init(lookups: KXOverLookups, policy: HostRealmCache.Policy = .init(), maxInFlight: Int = defaultMaxInFlight,
                maxPrefetches: Int = defaultMaxPrefetches,
                now: @escaping () -> Double = MonotonicClock.seconds) {
        self.lookups = lookups
        cache = HostRealmCache(policy: policy)
        self.maxInFlight = max(maxInFlight, 1)
        self.maxPrefetches = max(min(maxPrefetches, maxInFlight), 1)
        self.now = now
    }

    /// Lookups running now, and those of them no one waits for.
    public var inFlight: Int { pending.count }
    public var prefetches: Int { prefetching.count }
    /// Hosts remembered now.
    public var count: Int { cache.count }

    final class Waiter: DNSQuery {
        var completion: ((Result<String, KXError>) -> Void)?
        init(_ completion: @escaping (Result<String, KXError>) -> Void) { self.completion = completion }
        func cancel() { completion = nil }
        func finish(_ result: Result<String, KXError>) {
            let completion = self.completion
            self.completion = nil
            completion?(result)
        }
    }

    /// What the cache knows about `host` now, without asking anyone.
    public func cached(_ host: String) -> Result<String, KXError>? {
        guard let answer = cache.answer(for: host, now: now()) else { return nil }
        hits += 1
        return Self.result(answer)
    }

    /// The realm of `host`: from the cache at once (the completion runs before
    /// this returns), else after a lookup (joined when one is in flight).
    @discardableResult
    public func resolve(_ host: String, completion: @escaping (Result<String, KXError>) -> Void) -> DNSQuery {
        let waiter = Waiter(completion)
        if let known = cached(host) {
            waiter.finish(known)
            return waiter
        }
        if !start(host, waiter) { waiter.finish(.failure(busyError)) }
        return waiter
    }

    /// Starts a lookup of `host` in the background, unless one is in flight.
    /// False when over `maxPrefetches` or `maxInFlight` (nothing started).
    @discardableResult
    public func prefetch(_ host: String) -> Bool {
        start(host, nil)
    }

    private var busyError: KXError {
        KXError(.dnssecRealm, "busy: \(pending.count) host lookups in flight")
    }

    private func start(_ host: String, _ waiter: Waiter?) -> Bool {
        let key = HostRealmCache.key(host)
        misses += 1
        if pending[key] != nil {
            if let waiter {
                pending[key]!.append(waiter)
                prefetching.remove(key)
            }
            return true
        }
        guard pending.count < maxInFlight, waiter != nil || prefetching.count < maxPrefetches else {
            busy += 1
            return false
        }
        pending[key] = waiter.map { [$0] } ?? []
        if waiter == nil { prefetching.insert(key) }
        // Not cancelled when its waiters are: the answer fills the cache.
        lookups.realm(ofHost: key) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let realm): self.cache.record(key, .realm(realm), now: self.now())
            case .failure(let error): self.cache.record(key, .no(error.detail), now: self.now())
            }
            self.prefetching.remove(key)
            for waiter in self.pending.removeValue(forKey: key) ?? [] { waiter.finish(result) }
        }
        return true
    }

    static func result(_ answer: HostRealmCache.Answer) -> Result<String, KXError> {
        switch answer {
        case .realm(let realm): return .success(realm)
        case .no(let reason): return .failure(KXError(.dnssecRealm, reason))
        }
    }
}
