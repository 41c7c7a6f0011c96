/// Which peer realms one local realm crosses with, in which direction: the
/// administrator's say (kxover.conf `peers_allowed`, `peers_denied`,
/// `incoming`, `outgoing`). Pure: a realm name and a direction in, a
/// decision naming the rule that made it out. Checked before anything is
/// written and before any network work of our own: a refused crossover
/// costs the peer one KRB-ERROR and us nothing.
public struct PeerPolicy: Sendable, Hashable {
    public enum Direction: String, Sendable, CaseIterable {
        /// A peer's KX-REQ to us (we are the service side).
        case incoming
        /// An exchange we start for our users (we are the client side).
        case outgoing
    }

    /// The rule that decided, as a metrics label.
    public enum Rule: String, Sendable {
        case directionOff = "direction_off"
        case denied
        case notAllowed = "not_allowed"
        case allowed
        case everyRealm = "every_realm"
    }

    public struct Decision: Sendable, Hashable, CustomStringConvertible {
        public let allowed: Bool
        public let rule: Rule
        /// The rule in the administrator's words, e.g. `peers_denied *.EVIL.TEST`.
        public let ruleText: String

        public init(allowed: Bool, rule: Rule, ruleText: String) {
            self.allowed = allowed
            self.rule = rule
            self.ruleText = ruleText
        }

        public var description: String { "\(allowed ? "allowed" : "refused") by \(ruleText)" }
    }

    /// nil: every realm (no `peers_allowed` line).
    public var allowed: [RealmPattern]?
    public var denied: [RealmPattern]
    public var incoming: Bool
    public var outgoing: Bool
    /// After serving a peer's crossover to us, cross back to it (subject to
    /// `outgoing` and the lists), so that our users reach the peer too.
    public var reciprocal: Bool

    public init(allowed: [RealmPattern]? = nil, denied: [RealmPattern] = [], incoming: Bool = true, outgoing: Bool = true,
                reciprocal: Bool = false) {
        self.allowed = allowed
        self.denied = denied
        self.incoming = incoming
        self.outgoing = outgoing
        self.reciprocal = reciprocal
    }

    /// Whether serving `peer`'s crossover to us should start ours to it.
    public func reciprocates(_ peer: String) -> Bool {
        reciprocal && decide(peer: peer, direction: .outgoing).allowed
    }

    /// Every realm, both directions: the default.
    public static let open = PeerPolicy()

    /// Direction first, then deny (deny wins), then the allow list.
    public func decide(peer: String, direction: Direction) -> Decision {
        let on = direction == .incoming ? incoming : outgoing
        if !on {
            return Decision(allowed: false, rule: .directionOff, ruleText: "\(direction.rawValue) = false")
        }
        if let pattern = denied.first(where: { $0.matches(peer) }) {
            return Decision(allowed: false, rule: .denied, ruleText: "peers_denied \(pattern)")
        }
        guard let allowed else {
            return Decision(allowed: true, rule: .everyRealm, ruleText: "no peers_allowed (every realm)")
        }
        if let pattern = allowed.first(where: { $0.matches(peer) }) {
            return Decision(allowed: true, rule: .allowed, ruleText: "peers_allowed \(pattern)")
        }
        return Decision(allowed: false, rule: .notAllowed,
                        ruleText: "peers_allowed (\(allowed.map(\.description).joined(separator: " ")) does not name it)")
    }

    /// The refusal a record or the engine reports (and tells the peer).
    public func refusal(peer: String, local: String, direction: Direction) -> KXError? {
        let decision = decide(peer: peer, direction: direction)
        guard !decision.allowed else { return nil }
        let what = direction == .incoming ? "\(local) accepts no crossover from \(peer)" : "\(local) starts no crossover to \(peer)"
        return KXError(.policy, "\(what): \(decision.ruleText)")
    }
}

/// A realm name or a subtree in a policy list: `EXAMPLE.ORG` is that realm,
/// `*.EXAMPLE.ORG` every realm below EXAMPLE.ORG (not EXAMPLE.ORG itself),
/// `*` every realm. Matched without regard to case: kxover crosses only with
/// upper-case DNS-style realm names, whose DNS zones are case-insensitive,
/// so an administrator's `*.example.org` means the same as `*.EXAMPLE.ORG`.
public struct RealmPattern: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case any
        case exactly(String)
        case below(String)
    }

    public let kind: Kind

    /// nil for text that is not `*`, a realm name, or `*.` and a realm name.
    public init?(_ text: String) {
        let upper = text.uppercased()
        if upper == "*" {
            kind = .any
        } else if upper.hasPrefix("*.") {
            let suffix = String(upper.dropFirst(2))
            // A zone may be a single label (`*.TEST`): valid when a realm below it would be.
            guard RealmName.isValid("A." + suffix) else { return nil }
            kind = .below(suffix)
        } else {
            guard RealmName.isValid(upper) else { return nil }
            kind = .exactly(upper)
        }
    }

    public func matches(_ realm: String) -> Bool {
        let realm = realm.uppercased()
        switch kind {
        case .any: return true
        case .exactly(let name): return realm == name
        case .below(let zone): return realm.hasSuffix("." + zone)
        }
    }

    public var description: String {
        switch kind {
        case .any: "*"
        case .exactly(let name): name
        case .below(let zone): "*.\(zone)"
        }
    }
}
