import KXOver

/// The resolver port, counting every answer by type and DNSSEC class.
final class ObservedResolver: Resolver {
    private let upstream: Resolver
    private let metrics: DaemonMetrics

    init(_ upstream: Resolver, metrics: DaemonMetrics) {
        self.upstream = upstream
        self.metrics = metrics
    }

    @discardableResult
    func query(_ name: String, _ type: DNSRecordType, completion: @escaping (Result<DNSAnswer, DNSFailure>) -> Void) -> DNSQuery {
        upstream.query(name, type) { [metrics] result in
            metrics.dnsAnswer(type, result)
            completion(result)
        }
    }
}

/// The key store port, counting every write by realm and outcome.
final class ObservedKeyStore: KeyStore {
    private let upstream: KeyStore
    private let realm: String
    private let metrics: DaemonMetrics

    init(_ upstream: KeyStore, realm: String, metrics: DaemonMetrics) {
        self.upstream = upstream
        self.realm = realm
        self.metrics = metrics
    }

    func inspect(_ principal: Principal, completion: @escaping (Result<KeyStoreEntry, KXError>) -> Void) {
        upstream.inspect(principal, completion: completion)
    }

    func store(_ write: CrossoverKeyWrite, completion: @escaping (Result<KeyWriteOutcome, KXError>) -> Void) {
        upstream.store(write) { [metrics, realm] result in
            metrics.keyWrite(realm: realm, result)
            completion(result)
        }
    }
}
