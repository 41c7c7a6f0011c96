import Foundation
@testable import KXDaemon
import KXEventLoop
import KXOver
import Logging
import Testing

/// KX-REP waits for the replica's KDB (multi-KDC): fakes for both KDBs; the
/// real thing runs in scripts/multikdc.
@Suite("replica-waiting key store")
struct ReplicaWaitingKeyStoreTests {
    /// A KDB that answers inspections from `entry`, counting them, and stores as told.
    final class ScriptedKDB: KeyStore {
        var entry: (Int) -> KeyStoreEntry = { _ in .absent }
        var storeResult: Result<KeyWriteOutcome, KXError> = .success(.written)
        var inspections = 0
        var stores = 0
        func inspect(_ principal: Principal, completion: @escaping (Result<KeyStoreEntry, KXError>) -> Void) {
            inspections += 1
            completion(.success(entry(inspections)))
        }
        func store(_ write: CrossoverKeyWrite, completion: @escaping (Result<KeyWriteOutcome, KXError>) -> Void) {
            stores += 1
            completion(storeResult)
        }
    }

    let principal = Principal.crossover(client: "CLIENT.TEST", service: "SERVICE.TEST")

    func write() throws -> CrossoverKeyWrite {
        let layout = try KeySchedule.Layout(consecutive: [18])
        let now = KerberosTime(secondsSinceEpoch: 1_800_000_000)!
        return CrossoverKeyWrite(principal: principal, kvno: 31290, material: KeyMaterial(count: layout.exportLength),
                                 layout: layout, from: now, till: now.adding(seconds: 3600))
    }

    func holding(_ kvno: UInt32) -> KeyStoreEntry {
        .managed(ManagedKeySet(principal: principal, versions: [.init(kvno: kvno, etypes: [18], from: nil, till: nil)]))
    }

    /// Runs one store on virtual time: the replica is polled every 50 ms of
    /// it. Returns the outcome and the virtual seconds it took.
    func run(primary: ScriptedKDB, replica: ScriptedKDB, bound: Double) throws -> (Result<KeyWriteOutcome, KXError>?, Double) {
        let ports = VirtualPorts()
        let store = ReplicaWaitingKeyStore(primary: primary, replica: replica, bound: bound, timers: ports,
                                           logger: Logger(label: "test"))
        var outcome: Result<KeyWriteOutcome, KXError>?
        var took: Double?
        store.store(try write()) { outcome = $0; took = ports.seconds }
        // Step through at most the bound and one poll more, 10 ms at a time.
        while outcome == nil && ports.seconds < bound + 0.1 { ports.advance(0.01) }
        return (outcome, took ?? .infinity)
    }

    @Test func repliesOnceTheReplicaHoldsTheKvno() throws {
        let primary = ScriptedKDB(), replica = ScriptedKDB()
        replica.entry = { [holding] n in n >= 3 ? holding(31290) : holding(31289) }   // an older kvno first
        let (outcome, seconds) = try run(primary: primary, replica: replica, bound: 3)
        #expect(outcome == .success(.written))
        #expect(primary.stores == 1 && replica.inspections == 3 && replica.stores == 0)
        #expect(abs(seconds - 0.1) < 0.001, "two 50 ms pauses: \(seconds)")
    }

    @Test func atTheBoundItRepliesAnyway() throws {
        let primary = ScriptedKDB(), replica = ScriptedKDB()
        let (outcome, seconds) = try run(primary: primary, replica: replica, bound: 1)
        #expect(outcome == .success(.written))
        #expect(seconds >= 0.94 && seconds <= 1.01, "\(seconds)")
        #expect((19...21).contains(replica.inspections) && replica.stores == 0, "every 50 ms until the bound: \(replica.inspections)")
    }

    @Test func aFailedWriteIsReportedAtOnceWithoutAskingTheReplica() throws {
        let primary = ScriptedKDB(), replica = ScriptedKDB()
        primary.storeResult = .failure(KXError(.keyStoring, "kadmind unreachable"))
        let (outcome, _) = try run(primary: primary, replica: replica, bound: 3)
        #expect(outcome == .failure(KXError(.keyStoring, "kadmind unreachable")))
        #expect(replica.inspections == 0)
    }

    @Test func inspectionsGoToThePrimary() throws {
        let primary = ScriptedKDB(), replica = ScriptedKDB()
        primary.entry = { [holding] _ in holding(7) }
        let store = ReplicaWaitingKeyStore(primary: primary, replica: replica, bound: 1, timers: VirtualPorts(), logger: Logger(label: "test"))
        var seen: KeyStoreEntry?
        store.inspect(principal) { seen = try? $0.get() }
        #expect(seen == holding(7) && replica.inspections == 0)
    }
}
