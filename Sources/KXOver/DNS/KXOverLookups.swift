/// The DNS lookups KXOVER makes (spec §2), with its DNSSEC policy: TXT, SRV
/// and TLSA must be Secure; Bogus is always fatal, even for addresses.
/// Each failure says which name, which type and why.
public final class KXOverLookups {
    private let resolver: Resolver
    /// The longest host name walk for `_kerberos` TXT (labels stripped).
    public static let maximumWalk = 8

    public init(resolver: Resolver) {
        self.resolver = resolver
    }

    public static func txtName(_ host: String) -> String { "_kerberos.\(trimmed(host))" }
    public static func srvName(_ realm: String) -> String { "_kerberos-tls._tcp.\(RealmName.domain(of: realm))" }
    /// Always `_88._tcp`, whatever port the SRV record names (spec §2.1, decision #13).
    public static func tlsaName(_ host: String) -> String { "_88._tcp.\(trimmed(host))" }

    static func trimmed(_ host: String) -> String {
        (host.hasSuffix(".") ? String(host.dropLast()) : host).lowercased()
    }

    /// A lookup that may take several queries; cancelling stops the current one.
    final class Chain: DNSQuery {
        var current: DNSQuery?
        var cancelled = false
        func cancel() {
            cancelled = true
            current?.cancel()
            current = nil
        }
    }

    // MARK: - Realm of a host (D1)

    /// The realm of `host` from the first character-string of a Secure TXT at
    /// `_kerberos.<host>`, walking up one label at a time over authenticated
    /// denials (never to a top-level domain). Conflicting realms fail.
    @discardableResult
    public func realm(ofHost host: String, completion: @escaping (Result<String, KXError>) -> Void) -> DNSQuery {
        let chain = Chain()
        var labels = Self.trimmed(host).split(separator: ".").map(String.init)
        guard labels.count >= 2 else {
            completion(.failure(KXError(.dnssecRealm, "\(host) is not a fully qualified host name")))
            return chain
        }
        func step(_ depth: Int) {
            let name = "_kerberos." + labels.joined(separator: ".")
            chain.current = resolver.query(name, .txt) { result in
                guard !chain.cancelled else { return }
                switch result {
                case .failure(let failure):
                    completion(.failure(KXError(.dnssecRealm, "\(name) TXT: \(failure)")))
                case .success(let answer):
                    switch Self.realm(from: answer) {
                    case .found(let realm):
                        completion(.success(realm))
                    case .refused(let reason):
                        completion(.failure(KXError(.dnssecRealm, "\(name) TXT \(reason)")))
                    case .absent:
                        labels.removeFirst()
                        guard labels.count >= 2, depth < Self.maximumWalk else {
                            completion(.failure(KXError(.dnssecRealm, "no _kerberos TXT record for \(host) or its parent domains")))
                            return
                        }
                        step(depth + 1)
                    }
                }
            }
        }
        step(0)
        return chain
    }

    enum RealmAnswer: Equatable {
        case found(String)
        case absent
        case refused(String)
    }

    static func realm(from answer: DNSAnswer) -> RealmAnswer {
        switch answer.security {
        case .bogus(let reason): return .refused("is bogus: \(reason)")
        case .insecure: return .refused("is not DNSSEC-signed (insecure)")
        case .secure: break
        }
        if answer.rdata.isEmpty { return .absent }   // authenticated NXDOMAIN or NODATA
        let realms = Set(answer.rdata.compactMap(DNSRecords.firstString).filter { !$0.isEmpty }
            .map { String(decoding: $0, as: UTF8.self) })
        guard let realm = realms.first else { return .refused("holds no realm name") }
        guard realms.count == 1 else { return .refused("names conflicting realms \(realms.sorted().map { LogText.escaped($0, limit: 64) }.joined(separator: ", "))") }
        guard RealmName.isValid(realm) else { return .refused("names \"\(LogText.escaped(realm, limit: 64))\", not an upper-case DNS-style realm") }
        return .found(realm)
    }

    // MARK: - KDCs of a realm (D2, D6)

    /// The `_kerberos-tls._tcp` SRV targets of `realm`: Secure, at least one
    /// usable target, RFC 2782 order.
    @discardableResult
    public func kdcs<G: RandomNumberGenerator>(ofRealm realm: String, random: G,
                                               completion: @escaping (Result<[DNSRecords.SRV], KXError>) -> Void) -> DNSQuery {
        let name = Self.srvName(realm)
        var random = random
        return resolver.query(name, .srv) { result in
            switch result {
            case .failure(let failure):
                completion(.failure(KXError(.dnssecKDC, "\(name) SRV: \(failure)")))
            case .success(let answer):
                if let reason = Self.refusal(answer) {
                    completion(.failure(KXError(.dnssecKDC, "\(name) SRV \(reason)")))
                    return
                }
                let records = answer.rdata.compactMap(DNSRecords.srv)
                guard records.count == answer.rdata.count else {
                    completion(.failure(KXError(.dnssecKDC, "\(name) SRV holds a malformed record")))
                    return
                }
                let ordered = SRVOrder.arrange(records, using: &random)
                guard !ordered.isEmpty else {
                    completion(.failure(KXError(.dnssecKDC, SRVOrder.saysNoService(records)
                        ? "\(name) SRV says \(realm) offers no KXOVER service" : "no \(name) SRV record")))
                    return
                }
                completion(.success(ordered))
            }
        }
    }

    // MARK: - TLSA of a KDC host (D4, D5)

    @discardableResult
    public func tlsa(ofHost host: String, completion: @escaping (Result<[DNSRecords.TLSA], KXError>) -> Void) -> DNSQuery {
        let name = Self.tlsaName(host)
        return resolver.query(name, .tlsa) { result in
            switch result {
            case .failure(let failure):
                completion(.failure(KXError(.dnssecTLSA, "\(name) TLSA: \(failure)")))
            case .success(let answer):
                if let reason = Self.refusal(answer) {
                    completion(.failure(KXError(.dnssecTLSA, "\(name) TLSA \(reason)")))
                    return
                }
                let records = answer.rdata.compactMap(DNSRecords.tlsa)
                guard !records.isEmpty else {
                    completion(.failure(KXError(.dnssecTLSA, "no \(name) TLSA record")))
                    return
                }
                completion(.success(records))
            }
        }
    }

    // MARK: - Addresses (D3)

    /// AAAA then A addresses of `host`. Insecure answers are fine here (TLS and
    /// DANE protect the connection); Bogus ones are not (DNS_ERROR, fatal),
    /// while no address at all is DNS_AAAA_A (try the next KDC).
    @discardableResult
    public func addresses(ofHost host: String, completion: @escaping (Result<[String], KXError>) -> Void) -> DNSQuery {
        let chain = Chain()
        let name = Self.trimmed(host)
        var v6: [String]?
        var failure: KXError?
        chain.current = resolver.query(name, .aaaa) { result in
            guard !chain.cancelled else { return }
            switch result {
            case .failure(let f): failure = KXError(.dnsAddress, "\(name) AAAA: \(f)")
            case .success(let answer):
                if case .bogus(let reason) = answer.security { failure = KXError(.dnsError, "\(name) AAAA is bogus: \(reason)") }
                v6 = answer.rdata.compactMap(DNSRecords.aaaa)
            }
            chain.current = self.resolver.query(name, .a) { result in
                guard !chain.cancelled else { return }
                if let failure { completion(.failure(failure)); return }
                switch result {
                case .failure(let f):
                    completion(.failure(KXError(.dnsAddress, "\(name) A: \(f)")))
                case .success(let answer):
                    if case .bogus(let reason) = answer.security {
                        completion(.failure(KXError(.dnsError, "\(name) A is bogus: \(reason)")))
                        return
                    }
                    let all = (v6 ?? []) + answer.rdata.compactMap(DNSRecords.a)
                    completion(all.isEmpty ? .failure(KXError(.dnsAddress, "\(name) has no A or AAAA record")) : .success(all))
                }
            }
        }
        return chain
    }

    /// Why an answer may not be used for TXT, SRV or TLSA, or nil.
    static func refusal(_ answer: DNSAnswer) -> String? {
        switch answer.security {
        case .bogus(let reason): return "is bogus: \(reason)"
        case .insecure: return "is not DNSSEC-signed (insecure)"
        case .secure: return answer.nameDoesNotExist ? "does not exist (authenticated denial)" : nil
        }
    }
}
