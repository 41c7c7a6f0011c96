import Foundation
import KXEventLoop
import KXOver

/// The small cache behind host → realm answers: a resolver in front of the
/// validating one that remembers Secure answers to `_kerberos.*` TXT
/// questions (realm records and authenticated denials, the steps of
/// `KXOverLookups.realm(ofHost:)`) for at most `ttl` seconds, `capacity`
/// names at most, and asks upstream once for identical questions in flight.
/// Insecure and Bogus answers, failures and every other question pass
/// through unremembered.
///
/// kxoverd gives the crossover engine and the hostrealm socket the same
/// cache: the engine resolves a host before it lets a referral request reach
/// krb5kdc, and the KDC's module asks about the same host moments later.
public final class SecureTXTCache: Resolver {
    public static let maximumTTL: Double = 3600

    private let upstream: Resolver
    private let loop: EventLoop
    private let ttl: Double
    private let capacity: Int
    private let now: () -> Double
    private var entries: [String: (answer: DNSAnswer, expires: Double)] = [:]
    private var pending: [String: [Waiter]] = [:]

    public private(set) var hits = 0
    public private(set) var misses = 0

    /// `now` is a monotonic clock in seconds (tests pass their own).
    public init(upstream: Resolver, loop: EventLoop, ttl: Double, capacity: Int = 1024,
                now: @escaping () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }) {
        self.upstream = upstream
        self.loop = loop
        self.ttl = min(max(ttl, 0), Self.maximumTTL)
        self.capacity = max(capacity, 1)
        self.now = now
    }

    public var count: Int { entries.count }

    final class Waiter: DNSQuery {
        var completion: ((Result<DNSAnswer, DNSFailure>) -> Void)?
        var timer: Watch?
        init(_ completion: @escaping (Result<DNSAnswer, DNSFailure>) -> Void) { self.completion = completion }
        func cancel() {
            completion = nil
            timer?.cancel()
            timer = nil
        }
        func finish(_ result: Result<DNSAnswer, DNSFailure>) {
            let completion = self.completion
            cancel()
            completion?(result)
        }
    }

    @discardableResult
    public func query(_ name: String, _ type: DNSRecordType,
                      completion: @escaping (Result<DNSAnswer, DNSFailure>) -> Void) -> DNSQuery {
        let key = Self.key(name)
        guard type == .txt, ttl > 0, key.hasPrefix("_kerberos.") else {
            return upstream.query(name, type, completion: completion)
        }
        let waiter = Waiter(completion)
        if let entry = entries[key] {
            if entry.expires > now() {
                hits += 1
                // Always later on the loop, as a real answer would be. The timer
                // holds the waiter until then (its asker may not); cancel breaks that.
                waiter.timer = loop.schedule(after: 0) { waiter.finish(.success(entry.answer)) }
                return waiter
            }
            entries[key] = nil
        }
        misses += 1
        if pending[key] != nil {
            pending[key]!.append(waiter)
            return waiter
        }
        pending[key] = [waiter]
        // Not cancelled when its waiters are: the answer still fills the cache.
        upstream.query(name, type) { [weak self] result in
            guard let self else { return }
            if case .success(let answer) = result, answer.security == .secure { self.store(key, answer) }
            for waiter in self.pending.removeValue(forKey: key) ?? [] { waiter.finish(result) }
        }
        return waiter
    }

    private func store(_ key: String, _ answer: DNSAnswer) {
        let time = now()
        if entries.count >= capacity {
            entries = entries.filter { $0.value.expires > time }
            if entries.count >= capacity, let soonest = entries.min(by: { $0.value.expires < $1.value.expires })?.key {
                entries[soonest] = nil
            }
        }
        entries[key] = (answer, time + ttl)
    }

    static func key(_ name: String) -> String {
        (name.hasSuffix(".") ? String(name.dropLast()) : name).lowercased()
    }
}
