/// The exchange desk: every decision about client exchanges that sits above
/// the records, as a pure value. Which exchange a new trigger joins, which
/// realm pair is in failure backoff, what the limits say, whether kxoverd is
/// draining, and when a key in the KDB counts as usable. It takes `now` and
/// returns decisions; the daemon carries them out (starts the record, calls
/// the waiters, logs and counts).
///
/// `Waiter` is whatever the daemon resumes when an exchange ends (a closure);
/// the desk only keeps and returns them.
public struct ExchangeDesk<Waiter> {
    /// One client exchange: the local realm asking for a key with a target.
    public struct Pair: Hashable, Sendable, CustomStringConvertible {
        public let localRealm: String
        public let target: String

        public init(localRealm: String, target: String) {
            self.localRealm = localRealm
            self.target = target
        }

        public var description: String { "\(localRealm) → \(target)" }
    }

    /// A pair whose last exchange failed: no new one before `until`.
    public struct Backoff: Sendable {
        public let until: Double
        public let error: KXError
        public let streak: Int
    }

    /// What to do with a request for a pair's key.
    public enum Decision {
        /// Run a new exchange (the caller made the record; the waiter is kept).
        case start
        /// An exchange for the pair runs already; the waiter was added to it.
        case join
        /// No exchange now; tell the waiter at once.
        case refuse(KXError, Refusal)
    }

    public enum Refusal: String, Sendable {
        case draining
        case backoff
        case limits
    }

    public private(set) var running: [Pair: [Waiter]] = [:]
    public private(set) var backoffs: [Pair: Backoff] = [:]
    public private(set) var draining = false
    /// The limits on exchanges we start (in flight: both sides together).
    public var admission: ExchangeAdmission
    /// The per-minute budget of exchanges peers start with us, apart from
    /// ours: a STARTTLS flood refuses more STARTTLS, never our users' or
    /// renewals' exchanges.
    public var inbound: ExchangeAdmission
    /// STARTTLS words per source network a minute.
    public var startTLSPerSource: SourceRate
    /// Fairness between DNS zones, charged once a peer is authenticated.
    public var zones: ZoneBudget
    /// Server exchanges (TLS sessions held) that count against the in-flight limit.
    public var serverSessions = 0

    /// Backoff after the n-th failure in a row: 10 s, 20 s, 40 s ... at most 10 minutes.
    public static func backoffSeconds(streak: Int) -> Double {
        min(600, 10 * Double(1 << min(max(streak - 1, 0), 10)))
    }

    public init(admission: ExchangeAdmission, zones: ZoneBudget? = nil, startTLSPerSource: Int = 60) {
        self.admission = admission
        inbound = admission
        self.zones = zones ?? ZoneBudget(limits: .defaults(globalPerMinute: admission.perMinute))
        self.startTLSPerSource = SourceRate(perMinute: startTLSPerSource)
    }

    /// New limits from a reload: both directions' buckets start full again.
    public mutating func setLimits(_ limits: ExchangeAdmission) {
        admission = limits
        inbound = limits
    }

    /// An authenticated peer realm (either side) wants an exchange: nil when
    /// its zone's share allows it, else why not (RATE_LIMITED).
    public mutating func admitPeer(_ realm: String, now: Double) -> (error: KXError, cap: ZoneBudget.Cap)? {
        zones.prune(now: now)
        guard case .failure(let refusal) = zones.admit(realm: realm, now: now) else { return nil }
        return (KXError(.rateLimited, refusal.detail), refusal.cap)
    }

    /// A request for `pair`'s key: join the running exchange, refuse, or start one.
    /// A `renewal` (a key near its till) is bounded by the exchanges in
    /// flight only: the per-minute budget is for new trust, and a renewal
    /// refused there could let a working key expire.
    public mutating func request(_ pair: Pair, waiter: Waiter, now: Double, renewal: Bool = false) -> Decision {
        if running[pair] != nil {
            running[pair]!.append(waiter)
            return .join
        }
        if draining {
            return .refuse(KXError(.cancelled, "kxoverd is stopping; no new exchange starts"), .draining)
        }
        if let backoff = backoffs[pair] {
            if backoff.until > now {
                let wait = Int((backoff.until - now).rounded(.up))
                return .refuse(KXError(backoff.error.code, "\(backoff.error.detail) (failed \(backoff.streak)x; next attempt in \(wait) s)"), .backoff)
            }
        }
        if let refusal = renewal ? inFlightRefusal() : admitOutbound(now: now) {
            return .refuse(refusal, .limits)
        }
        running[pair] = [waiter]
        return .start
    }

    /// A STARTTLS word from `address`: nil when its network is within its
    /// own rate. Asked before `admitServer`, so that a flooding network does
    /// not spend the inbound budget everyone else shares.
    public mutating func admitStartTLS(from address: [UInt8], now: Double) -> KXError? {
        startTLSPerSource.prune(now: now)
        guard !startTLSPerSource.admit(address: address, now: now) else { return nil }
        return KXError(.rateLimited, "more than \(startTLSPerSource.perMinute) STARTTLS from this network in the last minute (max_starttls_per_source_per_minute)")
    }

    /// A server exchange wants to begin (a STARTTLS arrived): nil when it may.
    public mutating func admitServer(now: Double) -> KXError? {
        if draining { return KXError(.cancelled, "kxoverd is stopping") }
        let inFlight = running.count + serverSessions
        guard let refusal = inbound.admit(inFlight: inFlight, now: now) else { return nil }
        return KXError(.rateLimited, refusal)
    }

    private func inFlightRefusal() -> KXError? {
        let inFlight = running.count + serverSessions
        guard inFlight >= admission.maxInFlight else { return nil }
        return KXError(.rateLimited, "\(inFlight) exchanges in flight, the limit is \(admission.maxInFlight)")
    }

    private mutating func admitOutbound(now: Double) -> KXError? {
        let inFlight = running.count + serverSessions
        guard let refusal = admission.admit(inFlight: inFlight, now: now) else { return nil }
        return KXError(.rateLimited, refusal)
    }

    /// The pair's exchange ended: its waiters, to be resumed with `outcome`.
    /// A failure puts the pair in backoff; a success clears it.
    public mutating func finished(_ pair: Pair, failure: KXError?, now: Double) -> [Waiter] {
        let waiters = running.removeValue(forKey: pair) ?? []
        if let failure {
            let streak = (backoffs[pair]?.streak ?? 0) + 1
            backoffs[pair] = Backoff(until: now + Self.backoffSeconds(streak: streak), error: failure, streak: streak)
        } else {
            backoffs[pair] = nil
        }
        prune(now: now)
        return waiters
    }

    /// An administrator removed the pair's key: the next request may cross at once.
    /// True if a backoff was cleared.
    @discardableResult
    public mutating func keyRemoved(_ pair: Pair) -> Bool {
        backoffs.removeValue(forKey: pair) != nil
    }

    public mutating func beginDraining() { draining = true }

    /// True while an exchange for `pair` runs or its failure backoff lasts:
    /// a request for it now starts nothing.
    public func isBusy(_ pair: Pair, now: Double) -> Bool {
        running[pair] != nil || (backoffs[pair].map { $0.until > now } ?? false)
    }

    /// Backoffs whose wait is over are dropped once they are also older than
    /// the longest backoff, so the map stays as small as the pairs that failed
    /// recently (a streak resets after a quiet spell of ten minutes).
    public mutating func prune(now: Double) {
        backoffs = backoffs.filter { $0.value.until + 600 > now }
    }

    /// The pairs in backoff now, for `kxover status`.
    public func activeBackoffs(now: Double) -> [(pair: Pair, backoff: Backoff)] {
        backoffs.filter { $0.value.until > now }.map { ($0.key, $0.value) }.sorted { $0.pair.description < $1.pair.description }
    }

    /// Whether the KDB entry holds a key a ticket can be issued under now:
    /// one kvno whose recorded validity covers `now` (a kvno without a
    /// validity record does not count: kxover cannot tell when it ends).
    /// Anything else (absent, no valid kvno) means "cross first".
    public static func hasUsableKey(_ set: ManagedKeySet, now: KerberosTime) -> Bool {
        set.versions.contains { version in
            guard let till = version.till, now < till else { return false }
            return version.from.map { $0 <= now } ?? true
        }
    }
}
