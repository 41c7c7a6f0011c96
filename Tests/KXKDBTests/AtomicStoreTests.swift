import Foundation
import KXEventLoop
import KXKDB
import KXOver
import Testing

extension KadminSessionTests {
/// A key store is all or nothing: a store that fails at any step leaves the
/// KDB as it was before it began, in local mode, over kadmind, with a right
/// missing from kadmind's ACL, and when kadmind dies between two calls.
/// (Nested: kadm5's process-wide state allows one test at a time.)
@Suite("all or nothing")
struct AtomicStoreTests {
    let now = KerberosTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!

    init() {
        // A write to a kadmind that has gone away must fail, not kill the process.
        signal(SIGPIPE, SIG_IGN)
    }

    struct InjectedFault: Error, CustomStringConvertible {
        let step: KeyStoreStep
        var description: String { "injected failure before \(step.rawValue)" }
    }

    /// Fails the store just before `step`, after running `action` (e.g. killing kadmind).
    static func failing(before step: KeyStoreStep, action: @escaping @Sendable () -> Void = {}) -> KadminFaults {
        KadminFaults { current in
            guard current == step else { return }
            action()
            throw InjectedFault(step: step)
        }
    }

    func keyWrite(_ principal: Principal, seed: UInt8, kvno: UInt32) -> CrossoverKeyWrite {
        let (material, layout) = testKeys(seed: seed)
        return CrossoverKeyWrite(principal: principal, kvno: kvno, material: material, layout: layout,
                                 from: now, till: now.adding(seconds: 14 * 86_400))
    }

    /// What an administrator would compare: the principal's keys (kvno,
    /// etype), lifetimes, policy and string attributes, as kadmin.local shows
    /// them, without the modification time.
    static func snapshot(_ realms: TestRealms, _ realm: String, _ principal: Principal) throws -> String {
        let princ = try realms.kadminLocal(realm, "getprinc \(principal)")
        let kept = princ.text.split(separator: "\n").filter { line in
            !line.hasPrefix("Last ") && !line.contains("Authenticating as")
        }
        let strings = try realms.kadminLocal(realm, "getstrs \(principal)")
        return (kept + ["strings:"] + strings.text.split(separator: "\n").filter { !$0.contains("Authenticating as") })
            .joined(separator: "\n")
    }

    @Test(arguments: [KeyStoreStep.validity, .keys], [Kadm5Mode.local, .remote])
    func aNewPrincipalIsDeletedWhenItsStoreFails(step: KeyStoreStep, mode: Kadm5Mode) throws {
        let realms = try TestRealms(kadmind: mode == .remote)
        let principal = realms.crossoverPrincipal
        let before = try Self.snapshot(realms, realms.client, principal)
        #expect(before.contains("does not exist"), "\(before)")
        let session = try KadminSession(realms.configuration(realms.client, mode: mode))
        session.faults = Self.failing(before: step)
        #expect(throws: KeyStoreFailure.self) { try session.write(keyWrite(principal, seed: 1, kvno: 7)) }
        #expect(try Self.snapshot(realms, realms.client, principal) == before)
        // And a later store with no fault goes through.
        session.faults = nil
        #expect(try session.write(keyWrite(principal, seed: 1, kvno: 7)) == .written)
    }

    /// In both modes: the keys are written last, so a rollover that fails
    /// leaves the old key set as it was, and the undo takes the new validity
    /// record off and puts the ticket lifetimes back.
    @Test(arguments: [KeyStoreStep.validity, .ticketLifetime, .keys], [Kadm5Mode.local, .remote])
    func anExistingPrincipalKeepsItsKeysWhenARolloverFails(step: KeyStoreStep, mode: Kadm5Mode) throws {
        let realms = try TestRealms(kadmind: mode == .remote)
        let principal = realms.crossoverPrincipal
        let session = try KadminSession(realms.configuration(realms.client, mode: mode))
        #expect(try session.write(keyWrite(principal, seed: 1, kvno: 7)) == .written)
        let before = try Self.snapshot(realms, realms.client, principal)
        let digests = try session.storedKeys(principal, kvno: 7).map(\.digest)
        #expect(before.contains("vno 7") && before.contains("kxover-validity-7"), "\(before)")
        session.faults = Self.failing(before: step)
        #expect(throws: KeyStoreFailure.self) { try session.write(keyWrite(principal, seed: 2, kvno: 8)) }
        let after = try Self.snapshot(realms, realms.client, principal)
        #expect(after == before)
        #expect(!after.contains("vno 8") && !after.contains("kxover-validity-8"))
        #expect(try session.storedKeys(principal, kvno: 7).map(\.digest) == digests)
    }

    /// kxoverd killed between two calls leaves traces no undo removed: the
    /// key check removes a keyless kxover principal once it is older than the
    /// grace period, and validity records of kvnos without keys.
    @Test func theKeyCheckRemovesTracesOfStoresCutShort() throws {
        let realms = try TestRealms()
        let keyless = Principal.crossover(client: realms.client, service: "HALF.TEST")
        #expect(try realms.kadminLocal(realms.client, "addprinc -nokey -policy kxover \(keyless)").ok)
        let principal = realms.crossoverPrincipal
        let session = try KadminSession(realms.configuration(realms.client))
        #expect(try session.write(keyWrite(principal, seed: 1, kvno: 7)) == .written)
        #expect(try realms.kadminLocal(realms.client, "setstr \(principal) kxover-validity-9 \"20260101000000Z 20260115000000Z\"").ok)
        let foreign = Principal.crossover(client: realms.client, service: "HANDMADE.TEST")
        #expect(try realms.kadminLocal(realms.client, "addprinc -nokey \(foreign)").ok)

        // Within the grace period the keyless principal may be another kxoverd's store in progress.
        let early = try session.removeLeftovers(now: now, grace: 300)
        #expect(early.count == 1 && early[0].contains("kvno 9"), "\(early)")
        #expect(try session.entry(keyless) != .absent)
        let late = try session.removeLeftovers(now: now.adding(seconds: 400), grace: 300)
        #expect(late.count == 1 && late[0].contains("HALF.TEST"), "\(late)")
        #expect(try session.entry(keyless) == .absent)
        // The keyed principal keeps its kvno and record; a principal not under the kxover policy is never touched.
        #expect(try Self.snapshot(realms, realms.client, principal).contains("kxover-validity-7"))
        #expect(!(try Self.snapshot(realms, realms.client, principal).contains("kxover-validity-9")))
        #expect(try session.entry(foreign) != .absent)
    }

    /// The case an administrator hit: kadmind grants add, delete, inquire,
    /// list and setkey but not modify. The store fails when it records the
    /// key's validity, and the principal it had created is gone again.
    @Test func kadmindWithoutModifyRightLeavesNoPrincipal() throws {
        let realms = try TestRealms(kadmind: true)
        try realms.setAdminRights(realms.client, "adils", target: "krbtgt/*@*")
        let principal = realms.crossoverPrincipal
        let before = try Self.snapshot(realms, realms.client, principal)
        let session = try KadminSession(realms.configuration(realms.client, mode: .remote))
        var failure: KeyStoreFailure?
        do { _ = try session.write(keyWrite(principal, seed: 1, kvno: 7)) } catch let error as KeyStoreFailure { failure = error }
        #expect(failure != nil)
        #expect(failure?.pendingUndo == nil)
        #expect("\(failure.map { "\($0)" } ?? "")".contains("recording the validity"))
        #expect(try Self.snapshot(realms, realms.client, principal) == before)
        // A retry does not re-key anything: the KDB stays as it was.
        _ = try? session.write(keyWrite(principal, seed: 1, kvno: 8))
        #expect(try Self.snapshot(realms, realms.client, principal) == before)
    }

    /// kxoverd names each right kadmind withholds, without changing the KDB;
    /// the least-privilege ACL (`adims` on krbtgt/*@*, and `l`, which kadmind
    /// checks with no target) is enough.
    @Test func missingRightsAreNamedOneByOne() throws {
        let realms = try TestRealms(kadmind: true)
        func grant(_ rights: String) throws {
            let targeted = rights.filter { $0 != "l" }, list = rights.contains("l")
            try realms.setAdminRights(realms.client, [targeted.isEmpty ? nil : "\(targeted) krbtgt/*@*", list ? "l" : nil].compactMap { $0 })
        }
        let all = "adilms"
        try grant(all)
        #expect(try KadminSession(realms.configuration(realms.client, mode: .remote)).missingRights().isEmpty)
        for letter in all {
            try grant(all.filter { $0 != letter })
            let missing = try KadminSession(realms.configuration(realms.client, mode: .remote)).missingRights()
            #expect(missing.map(\.letter) == [letter], "without \(letter): \(missing)")
        }
        // The probes left nothing behind.
        #expect(try realms.kadminLocal(realms.client, "listprincs krbtgt/*").text.contains("PROBE") == false)
        // With a crossover principal in the KDB, setkey is probed on it, and its keys stay as they were.
        try grant(all)
        #expect(try KadminSession(realms.configuration(realms.client, mode: .remote)).write(keyWrite(realms.crossoverPrincipal, seed: 3, kvno: 5)) == .written)
        let before = try Self.snapshot(realms, realms.client, realms.crossoverPrincipal)
        try grant("adilm")
        #expect(try KadminSession(realms.configuration(realms.client, mode: .remote)).missingRights().map(\.letter) == ["s"])
        try grant(all)
        #expect(try KadminSession(realms.configuration(realms.client, mode: .remote)).missingRights().isEmpty)
        #expect(try Self.snapshot(realms, realms.client, realms.crossoverPrincipal) == before)
        // Local mode has no ACL to check.
        #expect(try KadminSession(realms.configuration(realms.client)).missingRights().isEmpty)
    }

    /// kadmind dies between two calls of a store: the undo cannot run at once,
    /// so the worker keeps it and carries it out before its next job, once
    /// kadmind answers again.
    @Test func anUndoCutOffByKadmindRunsWhenKadmindReturns() throws {
        let realms = try TestRealms(kadmind: true)
        let principal = realms.crossoverPrincipal
        let before = try Self.snapshot(realms, realms.client, principal)
        let loop = try EventLoop()
        let stopKadmind: @Sendable () -> Void = { _ = try? realms.stopKadmind(realms.client) }
        let store = KadmKeyStore(configuration: realms.configuration(realms.client, mode: .remote), executor: loop.executor,
                                 faults: Self.failing(before: .keys, action: stopKadmind))
        var notices: [String] = []
        store.onNotice { notices.append($0) }
        var stored: Result<KeyWriteOutcome, KXError>?
        store.store(keyWrite(principal, seed: 1, kvno: 7)) { stored = $0 }
        #expect(loop.run(until: { stored != nil }, timeout: 20))
        guard case .failure(let error)? = stored else { Issue.record("stored: \(String(describing: stored))"); return }
        #expect(error.code == .keyStoring)
        #expect(error.detail.contains("could not be put back yet"), "\(error)")
        // The half-made principal is there while kadmind is away.
        #expect(try Self.snapshot(realms, realms.client, principal).contains("Policy: kxover"))
        try realms.realm("start", realms.dir, realms.client, "--kadmind")
        var entry: Result<KeyStoreEntry, KXError>?
        store.inspect(principal) { entry = $0 }
        #expect(loop.run(until: { entry != nil }, timeout: 20))
        #expect((try? entry?.get()) == .absent)
        #expect(try Self.snapshot(realms, realms.client, principal) == before)
        #expect(notices.contains { $0.contains("completed a pending undo") }, "\(notices)")
        #expect(store.close(timeout: 5))
    }
}
}

extension TestRealms {
    /// Rewrites kxover/admin's line in the realm's kadm5.acl and restarts kadmind.
    func setAdminRights(_ name: String, _ rights: String, target: String) throws {
        try setAdminRights(name, ["\(rights) \(target)"])
    }

    /// One kadm5.acl line for kxover/admin per entry of `lines` ("RIGHTS [TARGET]").
    func setAdminRights(_ name: String, _ lines: [String]) throws {
        try lines.map { "kxover/admin@\(name) \($0)\n" }.joined().write(toFile: "\(dir)/\(name)/kadm5.acl", atomically: true, encoding: .utf8)
        try realm("stop", dir, name)
        try realm("start", dir, name, "--kadmind")
    }

    /// Stops the realm's kadmind only (krb5kdc keeps running).
    func stopKadmind(_ name: String) throws {
        let pidFile = "\(dir)/\(name)/kadmind.pid"
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestFailure("no kadmind pid in \(pidFile)")
        }
        kill(pid, SIGTERM)
        for _ in 0..<100 where kill(pid, 0) == 0 { usleep(20_000) }
        try? FileManager.default.removeItem(atPath: pidFile)
    }
}
