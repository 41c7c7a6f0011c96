import Foundation
import Testing
import KXDNS
import KXEventLoop
import KXOver

/// kxoverd's first DNS question at start: each trust anchor's DNSKEY,
/// against the signed test zone: Secure for the right anchor, a warning with
/// the validator's reason for a wrong one.
@Suite("DNSSEC trust anchor priming")
struct TrustAnchorPrimingTests {
    func prime(_ configuration: ResolverConfiguration) throws -> [TrustAnchorPriming.Outcome] {
        var outcomes: [TrustAnchorPriming.Outcome] = []
        let zones = TrustAnchorPriming.zones(of: configuration)
        try withResolver(configuration) { resolver, loop in
            TrustAnchorPriming.prime(zones, resolver: resolver) { outcomes.append($0) }
            loop.run(until: { outcomes.count == zones.count }, timeout: 10)
        }
        return outcomes
    }

    @Test func theZonesOfStringAndFileAnchors() throws {
        let file = NSTemporaryDirectory() + "/anchors-\(UUID().uuidString).key"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try """
            ; a comment, then the root's key twice (a rollover) and one other zone
            . IN DNSKEY 257 3 8 AwEAAaz ; keytag 20326
            . 172800 IN DNSKEY 257 3 8 AwEAAa9
            Example.ORG. IN DS 1 13 2 00

            """.write(toFile: file, atomically: true, encoding: .utf8)
        let configuration = ResolverConfiguration(trustAnchors: ["test. IN DS 9982 13 2 dc", "other.test 3600 IN DNSKEY 257 3 13 AA", "garbage"],
                                                  trustAnchorFiles: [file, "/nonexistent/anchors.key"])
        #expect(TrustAnchorPriming.zones(of: configuration) == ["test.", "other.test.", ".", "example.org."])
    }

    @Test func theRightAnchorValidates() throws {
        let outcomes = try prime(TestZone.shared.configuration)
        guard case .validated(let zone, let milliseconds)? = outcomes.first, outcomes.count == 1 else {
            Issue.record("expected one validated zone, got \(outcomes)"); return
        }
        #expect(zone == "test.")
        #expect(milliseconds >= 0 && milliseconds < 10_000)
        #expect(outcomes[0].validated && outcomes[0].logLine.hasPrefix("DNSSEC trust anchor for test. validates"))
    }

    @Test func aWrongAnchorIsToldWithTheValidatorsReason() throws {
        // The right key tag and algorithm, another digest: the zone's DNSKEY cannot match it.
        var configuration = TestZone.shared.configuration
        let right = configuration.trustAnchors[0].split(separator: " ")
        configuration.trustAnchors = [(right.dropLast().map(String.init) + [String(repeating: "0", count: 64)]).joined(separator: " ")]
        let outcomes = try prime(configuration)
        guard case .notValidated(let zone, let reason)? = outcomes.first else { Issue.record("expected a refusal, got \(outcomes)"); return }
        #expect(zone == "test.")
        #expect(reason.hasPrefix("test. DNSKEY is bogus"), "\(reason)")
        #expect(!outcomes[0].validated && outcomes[0].logLine.contains("every crossover below test. fails until it does"))
    }
}
