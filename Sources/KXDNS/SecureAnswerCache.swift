import Foundation
import KXEventLoop
import KXOver

/// A resolver in front of the validating one that remembers Secure answers
/// (records and authenticated denials) to the questions its `Rule` names, and
/// asks upstream once for identical questions in flight. Insecure and Bogus
/// answers, failures and every other question pass through unremembered, so
/// nothing it keeps could not have come from the validator at that moment.
///
/// Why: a question libunbound answers from its own cache still costs a trip
/// to its thread and back (a few tenths of a millisecond on a busy machine,
/// three times in a warm crossover), and under load every exchange asks the
/// same few names. A remembered answer comes on the next loop turn.
public final class SecureAnswerCache: Resolver {
    public static let maximumTTL: Double = 3600

    /// Which questions are remembered, and for how long.
    public struct Rule: Sendable {
        /// Whether answers to this question (name lower case, no root dot) are kept.
        let applies: @Sendable (_ name: String, _ type: DNSRecordType) -> Bool
        /// Seconds a Secure answer may be kept (0 or less: not kept).
        let lifetime: @Sendable (_ answer: DNSAnswer) -> Double

        public init(applies: @escaping @Sendable (_ name: String, _ type: DNSRecordType) -> Bool,
                    lifetime: @escaping @Sendable (_ answer: DNSAnswer) -> Double) {
            self.applies = applies
            self.lifetime = lifetime
        }

        /// Host realms (`KXOverLookups.realm(ofHost:)`): `_kerberos.*` TXT for
        /// `ttl` seconds whatever the record says (`hostrealm_cache_ttl`; 0: off).
        public static func hostRealmTXT(ttl: Double) -> Rule {
            let ttl = min(max(ttl, 0), SecureAnswerCache.maximumTTL)
            return Rule(applies: { name, type in ttl > 0 && type == .txt && name.hasPrefix("_kerberos.") },
                        lifetime: { _ in ttl })
        }

        /// What an exchange asks: SRV, A, AAAA and TLSA, for as long as the
        /// resolver's own cache would still serve the answer (its remaining
        /// TTL) and at most an hour. TXT is left to `hostRealmTXT`, whose
        /// lifetime the administrator sets.
        public static let exchangeRecords = Rule(
            applies: { _, type in type == .srv || type == .a || type == .aaaa || type == .tlsa },
            lifetime: { answer in min(Double(answer.ttl), SecureAnswerCache.maximumTTL) })
    }

    private struct Key: Hashable {
        let name: String
        let type: DNSRecordType
    }

    private let upstream: Resolver
    private let loop: EventLoop
    private let rule: Rule
    private let capacity: Int
    private let now: () -> Double
    private var entries: [Key: (answer: DNSAnswer, expires: Double)] = [:]
    private var pending: [Key: [Waiter]] = [:]

    public private(set) var hits = 0
    public private(set) var misses = 0

    /// `now` is a monotonic clock in seconds (tests pass their own).
    public init(upstream: Resolver, loop: EventLoop, rule: Rule, capacity: Int = 1024,
                now: @escaping () -> Double = MonotonicClock.seconds) {
        self.upstream = upstream
        self.loop = loop
        self.rule = rule
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
        let key = Key(name: Self.normalized(name), type: type)
        guard rule.applies(key.name, type) else { return upstream.query(name, type, completion: completion) }
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

    private func store(_ key: Key, _ answer: DNSAnswer) {
        let lifetime = rule.lifetime(answer)
        guard lifetime > 0 else { return }
        let time = now()
        if entries.count >= capacity {
            entries = entries.filter { $0.value.expires > time }
            if entries.count >= capacity, let soonest = entries.min(by: { $0.value.expires < $1.value.expires })?.key {
                entries[soonest] = nil
            }
        }
        entries[key] = (answer, time + lifetime)
    }

    static func normalized(_ name: String) -> String {
        (name.hasSuffix(".") ? String(name.dropLast()) : name).lowercased()
    }
}
