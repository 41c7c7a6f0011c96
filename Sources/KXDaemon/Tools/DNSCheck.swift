import KXDNS
import KXEventLoop
import KXOver

/// Walks the DNS chain a crossover would walk (host → realm → KDCs →
/// addresses and TLSA), recording every answer with its DNSSEC status, and
/// says whether a crossover would be refused. Used by `kxover check-dns`.
public final class DNSCheck {
    public struct Step: Sendable {
        public let name: String
        public let type: DNSRecordType
        public let outcome: String
        public let detail: String
    }

    public private(set) var steps: [Step] = []
    public private(set) var refusal: KXError?
    public private(set) var realm: String?

    private let loop: EventLoop
    private let resolver: TracingResolver
    private let lookups: KXOverLookups

    public init(configuration: ResolverConfiguration, loop: EventLoop) throws {
        self.loop = loop
        resolver = TracingResolver(try UnboundResolver(configuration: configuration, loop: loop))
        lookups = KXOverLookups(resolver: resolver)
    }

    /// Runs the walk for a host name or a realm name; returns when done.
    public func run(_ target: String, timeout: Double = 60) {
        var finished = false
        let done: (KXError?) -> Void = { [self] error in
            refusal = error
            finished = true
        }
        if RealmName.isValid(target) {
            realm = target
            checkRealm(target, done)
        } else {
            lookups.realm(ofHost: target) { [self] result in
                switch result {
                case .failure(let error): done(error)
                case .success(let realm):
                    self.realm = realm
                    checkRealm(realm, done)
                }
            }
        }
        if !loop.run(until: { finished }, timeout: timeout) {
            refusal = KXError(.timeout, "the DNS walk did not finish within \(Int(timeout)) s")
        }
        steps = resolver.trace
    }

    private func checkRealm(_ realm: String, _ done: @escaping (KXError?) -> Void) {
        lookups.kdcs(ofRealm: realm, random: SystemRandomNumberGenerator()) { [self] result in
            switch result {
            case .failure(let error): done(error)
            case .success(let targets): checkTargets(targets[...], firstError: nil, done)
            }
        }
    }

    /// Every target is checked; the crossover would work if any one passes.
    private func checkTargets(_ targets: ArraySlice<DNSRecords.SRV>, firstError: KXError?, anyPassed: Bool = false,
                              _ done: @escaping (KXError?) -> Void) {
        guard let target = targets.first else {
            done(anyPassed ? nil : firstError)
            return
        }
        lookups.addresses(ofHost: target.target) { [self] addresses in
            lookups.tlsa(ofHost: target.target) { [self] tlsa in
                var error: KXError?
                if case .failure(let e) = addresses { error = e }
                if case .failure(let e) = tlsa { error = error ?? e }
                checkTargets(targets.dropFirst(), firstError: firstError ?? error, anyPassed: anyPassed || error == nil, done)
            }
        }
    }
}

/// A resolver that remembers every answer it passes on.
final class TracingResolver: Resolver {
    private let inner: Resolver
    var trace: [DNSCheck.Step] = []

    init(_ inner: Resolver) { self.inner = inner }

    func query(_ name: String, _ type: DNSRecordType, completion: @escaping (Result<DNSAnswer, DNSFailure>) -> Void) -> DNSQuery {
        inner.query(name, type) { [self] result in
            switch result {
            case .failure(let failure):
                trace.append(.init(name: name, type: type, outcome: "failed", detail: failure.description))
            case .success(let answer):
                let outcome: String
                switch answer.security {
                case .secure: outcome = "secure"
                case .insecure: outcome = "INSECURE"
                case .bogus: outcome = "BOGUS"
                }
                var detail: String
                if case .bogus(let reason) = answer.security { detail = reason }
                else if answer.nameDoesNotExist { detail = "no such name" + (answer.security == .secure ? " (authenticated denial)" : "") }
                else if answer.rdata.isEmpty { detail = "no records of this type" + (answer.security == .secure ? " (authenticated denial)" : "") }
                else { detail = answer.rdata.map { Self.render($0, type) }.joined(separator: ", ") }
                trace.append(.init(name: name, type: type, outcome: outcome, detail: detail))
            }
            completion(result)
        }
    }

    static func render(_ rdata: [UInt8], _ type: DNSRecordType) -> String {
        switch type {
        case .txt: return DNSRecords.firstString(rdata).map { "\"\(String(decoding: $0, as: UTF8.self))\"" } ?? "(malformed)"
        case .srv: return DNSRecords.srv(rdata)?.description ?? "(malformed)"
        case .tlsa: return DNSRecords.tlsa(rdata)?.description ?? "(malformed)"
        case .a: return DNSRecords.a(rdata) ?? "(malformed)"
        case .aaaa: return DNSRecords.aaaa(rdata) ?? "(malformed)"
        case .dnskey:   // flags (2 bytes), protocol, algorithm, key
            return rdata.count > 4 ? "DNSKEY flags \(Int(rdata[0]) << 8 | Int(rdata[1])), algorithm \(rdata[3])" : "(malformed)"
        }
    }
}
