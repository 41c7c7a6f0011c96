import Foundation
import KXEventLoop
import KXOver

/// At start, one DNSKEY question for the zone of each trust anchor: the
/// validator's first step for every name below it, taken before a user's
/// first crossover needs it (from the root servers, an Internet round trip
/// or more), and a check that the anchor validates at all, told at start in
/// words rather than by the first crossover's refusal.
public enum TrustAnchorPriming {
    /// What the question for one zone found.
    public enum Outcome: Equatable, Sendable {
        /// The zone's DNSKEY answer is Secure: the anchor works.
        case validated(zone: String, milliseconds: Double)
        /// Anything else, with the reason: every name below the zone fails.
        case notValidated(zone: String, reason: String)

        /// True for `.validated`: logged as information, anything else as a warning.
        public var validated: Bool {
            if case .validated = self { return true }
            return false
        }

        /// One log line: the outcome and, when it failed, what it means.
        public var logLine: String {
            switch self {
            case .validated(let zone, let milliseconds):
                return "DNSSEC trust anchor for \(zone) validates (its DNSKEY is Secure, \(String(format: "%.1f", milliseconds)) ms)"
            case .notValidated(let zone, let reason):
                return "DNSSEC trust anchor for \(zone) does not validate: \(reason); every crossover below \(zone) "
                    + "fails until it does (check dns_trust_anchor and dns_forward; kxover check-dns)"
            }
        }
    }

    /// The zones the configured anchors are for, in order, once each: the
    /// owner name of each `dns_trust_anchor` record and of each DS or
    /// DNSKEY record line in a `dns_trust_anchor_file` (`;` starts a comment).
    public static func zones(of configuration: ResolverConfiguration) -> [String] {
        var lines = configuration.trustAnchors
        for file in configuration.trustAnchorFiles {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            lines += text.split(whereSeparator: \.isNewline).map(String.init)
        }
        var zones: [String] = []
        for line in lines {
            let fields = line.split(whereSeparator: \.isWhitespace).map { $0.uppercased() }
            guard let owner = fields.first, !owner.hasPrefix(";"), fields.contains("DS") || fields.contains("DNSKEY") else { continue }
            let zone = (owner.hasSuffix(".") ? owner : owner + ".").lowercased()
            if !zones.contains(zone) { zones.append(zone) }
        }
        return zones
    }

    /// Asks `resolver` for each zone's DNSKEY, all at once; `report` gets one
    /// outcome per zone, on the resolver's loop. `clock` is in seconds.
    public static func prime(_ zones: [String], resolver: Resolver,
                             clock: @escaping () -> Double = MonotonicClock.seconds,
                             report: @escaping (Outcome) -> Void) {
        for zone in zones {
            let started = clock()
            resolver.query(zone, .dnskey) { result in
                switch result {
                case .success(let answer) where answer.security == .secure && !answer.rdata.isEmpty:
                    report(.validated(zone: zone, milliseconds: (clock() - started) * 1000))
                case .success(let answer) where answer.security == .secure:
                    report(.notValidated(zone: zone, reason: "\(zone) has no DNSKEY record"))
                case .success(let answer):
                    report(.notValidated(zone: zone, reason: "\(zone) DNSKEY is \(answer.security)"))
                case .failure(let failure):
                    report(.notValidated(zone: zone, reason: "\(zone) DNSKEY: \(failure)"))
                }
            }
        }
    }
}
