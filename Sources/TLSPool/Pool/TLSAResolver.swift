import KXOver

/// Where the pool gets TLSA records for DANE. The DNSSEC-validating
/// implementation is `LoopTLSAResolver`, over the core's `Resolver` port
/// (KXDNS's validating resolver in production); it decides the owner name
/// (KXOVER: `_88._tcp.<host>`). Asked from a pool event loop, which must not
/// wait: the answer comes back through `completion`, exactly once, on any
/// thread, within the implementation's own timeout.
public protocol TLSAResolver: Sendable {
    func tlsa(forHost host: String, completion: @escaping @Sendable (TLSALookup) -> Void)
}

/// The outcome of a TLSA lookup, with DNSSEC status. Only `.secure` with at
/// least one usable record lets a handshake through.
public enum TLSALookup: Sendable, Equatable {
    /// DNSSEC-validated answer; an empty list means "securely absent".
    case secure([TLSARecord])
    /// The zone is not signed: DANE cannot be trusted.
    case insecure
    /// Validation failed (forged or broken signatures).
    case bogus(String)
    /// The lookup itself failed (timeout, SERVFAIL, ...).
    case failed(String)
}

/// One TLSA RDATA: certificate usage, selector, matching type, association data.
public struct TLSARecord: Hashable, Sendable, CustomStringConvertible {
    public var usage: UInt8
    public var selector: UInt8
    public var matchingType: UInt8
    public var data: [UInt8]

    public init(usage: UInt8, selector: UInt8, matchingType: UInt8, data: [UInt8]) {
        self.usage = usage
        self.selector = selector
        self.matchingType = matchingType
        self.data = data
    }

    /// Parses presentation form, e.g. "3 1 1 0a1b..." (as written by scripts/kdccert).
    public init?(presentation: String) {
        let fields = presentation.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard fields.count >= 4,
              let usage = UInt8(fields[0]), let selector = UInt8(fields[1]), let matchingType = UInt8(fields[2]),
              let data = Hex.decode(fields[3...].joined()), !data.isEmpty else { return nil }
        self.init(usage: usage, selector: selector, matchingType: matchingType, data: data)
    }

    /// DANE-TA(2) and DANE-EE(3) are what KXOVER accepts (RFC 7671); PKIX-TA(0)
    /// and PKIX-EE(1) would need path validation against local roots.
    public var isDANEUsage: Bool { usage == 2 || usage == 3 }

    /// The wire RDATA, as dane_raw_tlsa takes it.
    var rdata: [UInt8] { [usage, selector, matchingType] + data }

    public var description: String { "\(usage) \(selector) \(matchingType) \(Hex.string(data.prefix(8)))…" }
}

/// A fixed table of answers by host name (tests, `tlspoold --tlsa`). Hosts
/// not in the table are reported as `.secure([])`, i.e. no TLSA: refused.
public struct StaticTLSAResolver: TLSAResolver {
    private let answers: [String: TLSALookup]

    public init(_ answers: [String: TLSALookup]) {
        var normalised: [String: TLSALookup] = [:]
        for (host, answer) in answers { normalised[Self.key(host)] = answer }
        self.answers = normalised
    }

    public func tlsa(forHost host: String) -> TLSALookup {
        answers[Self.key(host)] ?? .secure([])
    }

    public func tlsa(forHost host: String, completion: @escaping @Sendable (TLSALookup) -> Void) {
        completion(tlsa(forHost: host))
    }

    private static func key(_ host: String) -> String {
        var name = host.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }
}
