import KXOver
import Testing
@testable import KXDaemon

/// A held request whose exchange lost the race to a sibling kxoverd of the
/// same realm waits, bounded, for the sibling's key in the shared KDB.
@Suite("sibling key wait")
struct SiblingKeyWaitTests {
    /// A KDB that shows `absentReads` reads of nothing, then the key.
    final class ScriptedStore: KeyStore {
        var absentReads: Int
        var reads = 0
        let set: ManagedKeySet

        init(absentReads: Int, set: ManagedKeySet) {
            self.absentReads = absentReads
            self.set = set
        }

        func inspect(_ principal: Principal, completion: @escaping (Result<KeyStoreEntry, KXError>) -> Void) {
            reads += 1
            completion(.success(reads > absentReads ? .managed(set) : .absent))
        }

        func store(_ write: CrossoverKeyWrite, completion: @escaping (Result<KeyWriteOutcome, KXError>) -> Void) {
            Issue.record("a wait never writes")
        }
    }

    /// Timers run only when the test says so; the clock stands still.
    final class ManualTime: Timers, Clock {
        final class Timer: Cancellable {
            func cancel() {}
        }

        let now: KerberosTime
        var pending: [(seconds: Double, body: () -> Void)] = []

        init(now: KerberosTime) { self.now = now }
        var uptime: Double { 0 }

        func schedule(after seconds: Double, _ body: @escaping () -> Void) -> Cancellable {
            pending.append((seconds, body))
            return Timer()
        }

        func fireNext() {
            let next = pending.removeFirst()
            next.body()
        }
    }

    static let now = KerberosTime(secondsSinceEpoch: 1_800_000_000)!
    static let principal = Principal.crossover(client: "LDAP.TEST", service: "SERVICE.TEST")

    static func keySet(till: Int64) -> ManagedKeySet {
        ManagedKeySet(principal: principal, versions: [
            .init(kvno: 21_207, etypes: [18], from: now.adding(seconds: -1), till: now.adding(seconds: till)),
        ])
    }

    @Test func onlyAPeersRefusalForAPairAlreadyServedWaits() {
        #expect(SiblingKeyWait.applies(to: KXError(.rateLimited, "retry in 10 s", refusedBy: "kdc.service.test")))
        #expect(SiblingKeyWait.applies(to: KXError(.keyStoring, "key storing failed", refusedBy: "kdc.service.test")))
        // Our own limits, or any other refusal, say nothing about a sibling.
        #expect(!SiblingKeyWait.applies(to: KXError(.rateLimited, "all ten kvno serials of today are used")))
        #expect(!SiblingKeyWait.applies(to: KXError(.hostCheck, "not a target", refusedBy: "kdc.service.test")))
        #expect(!SiblingKeyWait.applies(to: KXError(.connect, "no connection")))
    }

    @Test func theSiblingsKeyEndsTheWaitAtTheReadThatSeesIt() {
        let time = ManualTime(now: Self.now)
        let store = ScriptedStore(absentReads: 3, set: Self.keySet(till: 3600))
        var found: Bool?
        SiblingKeyWait(principal: Self.principal, store: store, timers: time, clock: time, bound: 3, interval: 0.1).start { found = $0 }
        #expect(store.reads == 1 && found == nil)
        for _ in 0..<3 { time.fireNext() }
        #expect(store.reads == 4 && found == true)
        #expect(time.pending.isEmpty)
    }

    @Test func withoutAUsableKeyTheWaitEndsAtItsBound() {
        let time = ManualTime(now: Self.now)
        // An expired key is no key: the wait goes on to the bound.
        let store = ScriptedStore(absentReads: 0, set: Self.keySet(till: -10))
        var found: Bool?
        SiblingKeyWait(principal: Self.principal, store: store, timers: time, clock: time, bound: 1, interval: 0.25).start { found = $0 }
        while !time.pending.isEmpty {
            #expect(time.pending[0].seconds == 0.25)
            time.fireNext()
        }
        #expect(store.reads == 4 && found == false)
    }
}
