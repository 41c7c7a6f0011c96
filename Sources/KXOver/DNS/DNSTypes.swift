/// DNS as KXOVER sees it: record types, DNSSEC status and the resolver port.

public enum DNSRecordType: Int32, Sendable, Hashable, CustomStringConvertible {
    case a = 1, txt = 16, aaaa = 28, srv = 33, dnskey = 48, tlsa = 52

    public var description: String {
        switch self {
        case .a: return "A"
        case .txt: return "TXT"
        case .aaaa: return "AAAA"
        case .srv: return "SRV"
        case .dnskey: return "DNSKEY"
        case .tlsa: return "TLSA"
        }
    }
}

/// How a validating resolver judged an answer.
public enum DNSSecurity: Sendable, Hashable, CustomStringConvertible {
    /// Validated from the trust anchor.
    case secure
    /// Provably unsigned (an insecure delegation).
    case insecure
    /// Validation failed: forged, expired, missing keys. Never usable.
    case bogus(reason: String)

    public var description: String {
        switch self {
        case .secure: return "secure"
        case .insecure: return "insecure"
        case .bogus(let reason): return "bogus (\(reason))"
        }
    }
}

/// One raw answer: rdata in wire format, as the resolver returned it.
public struct DNSAnswer: Sendable, Hashable {
    public let name: String
    public let type: DNSRecordType
    public let security: DNSSecurity
    /// True when the name does not exist (NXDOMAIN).
    public let nameDoesNotExist: Bool
    public let rdata: [[UInt8]]
    /// Seconds the resolver's cache would still serve this answer (0: unknown).
    public let ttl: UInt32

    public init(name: String, type: DNSRecordType, security: DNSSecurity, nameDoesNotExist: Bool, rdata: [[UInt8]], ttl: UInt32 = 0) {
        self.name = name
        self.type = type
        self.security = security
        self.nameDoesNotExist = nameDoesNotExist
        self.rdata = rdata
        self.ttl = ttl
    }

    /// A secure "no such name" or "no such type": authenticated denial.
    public var isAuthenticatedDenial: Bool { security == .secure && rdata.isEmpty }
}

/// Why a lookup produced no answer at all.
public enum DNSFailure: Error, Sendable, Hashable, CustomStringConvertible {
    case timeout(seconds: Double)
    case cancelled
    case resolver(String)

    public var description: String {
        switch self {
        case .timeout(let s): return "no answer within \(s) s"
        case .cancelled: return "cancelled"
        case .resolver(let message): return "resolver error: \(message)"
        }
    }
}

/// A lookup in flight; cancelling it means its completion never runs.
public protocol DNSQuery: Cancellable {}

/// The resolver effect port. Completions run on the event-loop thread.
public protocol Resolver: AnyObject {
    @discardableResult
    func query(_ name: String, _ type: DNSRecordType, completion: @escaping (Result<DNSAnswer, DNSFailure>) -> Void) -> DNSQuery
}
