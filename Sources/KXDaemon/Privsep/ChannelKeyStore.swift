import KXEventLoop
import KXKDB
import KXOver

/// A realm's key store in the engine: every read, store and key check is a
/// request to the keeper, which alone holds kadm5 (privilege separation).
final class ChannelKeyStore: RealmKeyStore {
    let configuration: KadminConfiguration
    private let keeper: KeeperClient
    private let database: KeeperRequest.Database

    init(configuration: KadminConfiguration, database: KeeperRequest.Database, keeper: KeeperClient) {
        self.configuration = configuration
        self.database = database
        self.keeper = keeper
    }

    private var realm: String { configuration.realm }

    func inspect(_ principal: Principal, completion: @escaping (Result<KeyStoreEntry, KXError>) -> Void) {
        ask(.inspect(realm: realm, database: database, principal: principal), completion) {
            if case .entry(let entry) = $0 { entry } else { nil }
        }
    }

    func store(_ write: CrossoverKeyWrite, completion: @escaping (Result<KeyWriteOutcome, KXError>) -> Void) {
        ask(.store(realm: realm, write: write), completion) {
            if case .written(let outcome) = $0 { outcome } else { nil }
        }
    }

    /// The keeper uses its own clock and the realm's configured lifetime and interval.
    func claimKeyWork(now: KerberosTime, lifetime: Int64, checkInterval: Int64, holder: String, leaseSeconds: Int64,
                      completion: @escaping (Result<KeyWorkClaims, KXError>) -> Void) {
        ask(.claimKeyWork(realm: realm, holder: holder), completion) {
            if case .claims(let claims) = $0 { claims } else { nil }
        }
    }

    func maintain(claimed: [(principal: Principal, lease: MaintenanceLease)], now: KerberosTime, lifetime: Int64,
                  checkInterval: Int64, completion: @escaping (Result<KeyMaintenanceReport, KXError>) -> Void) {
        ask(.maintain(realm: realm, claimed: claimed), completion) {
            if case .report(let report) = $0 { report } else { nil }
        }
    }

    func onNotice(_ handler: @escaping (String) -> Void) {}

    /// The keeper finishes its own kadm5 work; nothing to wait for here.
    func close(timeout: Double) -> Bool { true }

    private func ask<T>(_ request: KeeperRequest, _ completion: @escaping (Result<T, KXError>) -> Void,
                        _ unwrap: @escaping (KeeperReply) -> T?) {
        keeper.request(request) { result in
            completion(result.flatMap { reply in
                unwrap(reply).map { .success($0) } ?? .failure(KXError(.keyStoring, "\(request.summary): the keeper answered another question"))
            })
        }
    }
}
