import Foundation
import KXEventLoop
import KXKDB
import KXOver
import Logging

/// A service-side key store for kxoverd beside a replica KDC (multi-KDC,
/// docs/multi-kdc.md): keys go to the primary through kadmind, and the KX-REP
/// waits until the replica's own KDB holds the new kvno (iprop has carried
/// it), up to `bound` seconds. Then the user's request, let go by the client
/// kxoverd when KX-REP arrives, finds the key at the replica on its first try.
/// At the bound the reply goes anyway (the primary has the key; it is
/// logged): waiting longer would only make the client give up.
final class ReplicaWaitingKeyStore: KeyStore {
    private let primary: KeyStore
    private let replica: KeyStore
    private let bound: Double
    private let timers: Timers
    private let logger: Logger

    init(primary: KeyStore, replica: KeyStore, bound: Double, timers: Timers, logger: Logger) {
        self.primary = primary
        self.replica = replica
        self.bound = bound
        self.timers = timers
        self.logger = logger
    }

    func inspect(_ principal: Principal, completion: @escaping (Result<KeyStoreEntry, KXError>) -> Void) {
        primary.inspect(principal, completion: completion)
    }

    func store(_ write: CrossoverKeyWrite, completion: @escaping (Result<KeyWriteOutcome, KXError>) -> Void) {
        primary.store(write) { [weak self] result in
            guard let self, case .success = result else { return completion(result) }
            self.awaitReplica(write.principal, kvno: write.kvno, since: self.timers.uptime) { completion(result) }
        }
    }

    private func awaitReplica(_ principal: Principal, kvno: UInt32, since start: Double, then done: @escaping () -> Void) {
        replica.inspect(principal) { [weak self] entry in
            guard let self else { return done() }
            let waited = self.timers.uptime - start
            if case .success(.managed(let set)) = entry, set.versions.contains(where: { $0.kvno == kvno }) {
                self.logger.info("\(principal) kvno \(kvno): the replica's KDB holds it after \(Int(waited * 1000)) ms")
                return done()
            }
            guard waited + 0.05 < self.bound else {
                let why = (try? entry.get()).map { _ in "not there yet" } ?? "\(entry)"
                self.logger.warning("\(principal) kvno \(kvno): the replica's KDB does not hold it after \(Int(waited * 1000)) ms (\(why)); replying anyway, the replica will serve it once iprop has carried it")
                return done()
            }
            self.timers.schedule(after: 0.05) { self.awaitReplica(principal, kvno: kvno, since: start, then: done) }
        }
    }
}
