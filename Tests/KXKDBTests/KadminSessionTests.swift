import Foundation
import Testing
import KXKDB
import KXOver
import KXEventLoop

/// The key store against real krb5kdc processes and real KDB files.
@Suite("kadm5 key store", .serialized)
struct KadminSessionTests {
    let now = KerberosTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!

    func write(_ realms: TestRealms, realm: String, seed: UInt8, kvno: UInt32, etypes: [Int32] = [18, 20],
               till: KerberosTime? = nil) throws -> KeyWriteOutcome {
        let (material, layout) = testKeys(seed: seed, etypes: etypes)
        let session = try KadminSession(realms.configuration(realm))
        return try session.write(CrossoverKeyWrite(principal: realms.crossoverPrincipal, kvno: kvno, material: material, layout: layout,
                                                   from: now, till: till ?? now.adding(seconds: 14 * 86_400)))
    }

    @Test func sameBytesInBothRealmsMakeACrossRealmTicket() throws {
        let realms = try TestRealms()
        #expect(try write(realms, realm: realms.client, seed: 1, kvno: 31_280) == .written)
        #expect(try write(realms, realm: realms.service, seed: 1, kvno: 31_280) == .written)
        let cache = "FILE:\(realms.dir)/cc-ok"
        let kvno = try realms.kinitAndKvno(["host/svc.service.test@SERVICE.TEST"], cache: nil)
        #expect(kvno.ok, "\(kvno.text)")
        // Read back both KDBs: identical digests for identical kvno and etypes.
        let a = try KadminSession(realms.configuration(realms.client)).storedKeys(realms.crossoverPrincipal, kvno: 31_280)
        let b = try KadminSession(realms.configuration(realms.service)).storedKeys(realms.crossoverPrincipal, kvno: 31_280)
        #expect(a.count == 2)
        #expect(a.map(\.etype).sorted() == [18, 20])
        #expect(a.sorted { $0.etype < $1.etype }.map(\.digest) == b.sorted { $0.etype < $1.etype }.map(\.digest))
        // klist shows the cross-realm TGT, encrypted in the preferred (SHA-2) etype.
        let env = ["KRB5_CONFIG": realms.krb5Config, "KRB5CCNAME": cache]
        _ = try Command.run(["kinit", "alice@CLIENT.TEST"], environment: env, stdin: realms.alicePassword + "\n")
        _ = try Command.run(["kvno", "host/svc.service.test@SERVICE.TEST"], environment: env)
        let list = try realms.klist(cache: cache)
        #expect(list.contains("krbtgt/SERVICE.TEST@CLIENT.TEST"), "\(list)")
    }

    @Test func differentBytesFailWithIntegrityError() throws {
        let realms = try TestRealms()
        _ = try write(realms, realm: realms.client, seed: 1, kvno: 31_280)
        _ = try write(realms, realm: realms.service, seed: 2, kvno: 31_280)
        let kvno = try realms.kinitAndKvno(["host/svc.service.test@SERVICE.TEST"])
        #expect(!kvno.ok)
        #expect(kvno.text.contains("Decrypt integrity check failed"), "\(kvno.text)")
    }

    @Test func kvnoMismatchFailsInProcessTGS() throws {
        let realms = try TestRealms()
        _ = try write(realms, realm: realms.client, seed: 1, kvno: 31_281)
        _ = try write(realms, realm: realms.service, seed: 1, kvno: 31_280)
        let kvno = try realms.kinitAndKvno(["host/svc.service.test@SERVICE.TEST"])
        #expect(!kvno.ok)
        #expect(kvno.text.contains("PROCESS_TGS"), "\(kvno.text)")
    }

    /// A cross-realm TGT issued under kvno N keeps working after N+1 is written
    /// on the accepting side (MIT's keepold bug is worked around).
    @Test func rolloverKeepsThePreviousKvno() throws {
        let realms = try TestRealms()
        _ = try write(realms, realm: realms.client, seed: 1, kvno: 31_280)
        _ = try write(realms, realm: realms.service, seed: 1, kvno: 31_280)
        let cache = "FILE:\(realms.dir)/cc-roll"
        let first = try realms.kinitAndKvno(["host/svc.service.test@SERVICE.TEST"], cache: nil)
        #expect(first.ok, "\(first.text)")
        let env = ["KRB5_CONFIG": realms.krb5Config, "KRB5CCNAME": cache]
        #expect(try Command.run(["kinit", "alice@CLIENT.TEST"], environment: env, stdin: realms.alicePassword + "\n").ok)
        #expect(try Command.run(["kvno", "host/svc.service.test@SERVICE.TEST"], environment: env).ok)
        // New kvno on both sides; the cached kvno-31280 cross TGT must still be accepted.
        #expect(try write(realms, realm: realms.service, seed: 9, kvno: 31_281) == .written)
        #expect(try write(realms, realm: realms.client, seed: 9, kvno: 31_281) == .written)
        let cached = try realms.kinitAndKvno(["host/svc2.service.test@SERVICE.TEST"], cache: cache)
        #expect(cached.ok, "\(cached.text)")
        let fresh = try realms.kinitAndKvno(["host/svc2.service.test@SERVICE.TEST"])
        #expect(fresh.ok, "\(fresh.text)")
        guard case .managed(let set) = try KadminSession(realms.configuration(realms.service)).entry(realms.crossoverPrincipal) else {
            Issue.record("not managed"); return
        }
        #expect(set.versions.map(\.kvno) == [31_281, 31_280])
        #expect(set.versions.allSatisfy { $0.till != nil && $0.from != nil })
    }

    @Test func writingTheSameBytesTwiceIsANoOpAndDifferentBytesAreRefused() throws {
        let realms = try TestRealms()
        #expect(try write(realms, realm: realms.client, seed: 3, kvno: 31_280) == .written)
        let session = try KadminSession(realms.configuration(realms.client))
        let written = try session.storedKeys(realms.crossoverPrincipal, kvno: 31_280)
        let before = try AtomicStoreTests.snapshot(realms, realms.client, realms.crossoverPrincipal)
        #expect(try write(realms, realm: realms.client, seed: 3, kvno: 31_280) == .alreadyPresent)
        #expect(throws: Krb5Failure.self) { try write(realms, realm: realms.client, seed: 4, kvno: 31_280) }
        // Neither the repeat nor the refused write changed a byte of the stored keys.
        let after = try session.storedKeys(realms.crossoverPrincipal, kvno: 31_280)
        #expect(written.count == 2)
        #expect(after.map(\.etype) == written.map(\.etype) && after.map(\.digest) == written.map(\.digest))
        #expect(try AtomicStoreTests.snapshot(realms, realms.client, realms.crossoverPrincipal) == before)
    }

    /// max_peer_realms: a store that would add one peer too many writes
    /// nothing; a peer already held (either direction, a new kvno) is stored.
    @Test func aNewPeerBeyondMaxPeerRealmsIsRefusedAndNothingIsWritten() throws {
        let realms = try TestRealms()
        var configuration = realms.configuration(realms.client)
        configuration.maxPeerRealms = 2
        let session = try KadminSession(configuration)
        func store(_ peer: String, kvno: UInt32 = 31_280, incoming: Bool = false) throws -> KeyWriteOutcome {
            let principal: Principal = incoming ? .crossover(client: peer, service: realms.client) : .crossover(client: realms.client, service: peer)
            let (material, layout) = testKeys(seed: UInt8(truncatingIfNeeded: peer.count &+ Int(kvno)))
            return try session.write(CrossoverKeyWrite(principal: principal, kvno: kvno, material: material, layout: layout,
                                                       from: now, till: now.adding(seconds: 14 * 86_400)))
        }
        #expect(try store("A.TEST") == .written)
        #expect(try store("B.TEST", incoming: true) == .written)
        let before = try realms.kadminLocal(realms.client, "listprincs").out
        do {
            _ = try store("C.TEST")
            Issue.record("a third peer was stored under max_peer_realms = 2")
        } catch {
            #expect("\(error)".contains("max_peer_realms 2 reached: CLIENT.TEST already holds kxover keys with 2 peer realms"), "\(error)")
        }
        #expect(try realms.kadminLocal(realms.client, "listprincs").out == before, "the refused store wrote something")
        #expect(try store("A.TEST", incoming: true) == .written)
        #expect(try store("B.TEST", kvno: 31_281, incoming: true) == .written)
    }

    /// Cross-realm principals an administrator made by hand are not kxover's
    /// and do not count against max_peer_realms, even when their names alone
    /// reach it (then every entry is read to count kxover's own).
    @Test func handMadeCrossRealmPrincipalsDoNotCountAgainstMaxPeerRealms() throws {
        let realms = try TestRealms()
        for peer in ["X.TEST", "Y.TEST"] {
            #expect(try realms.kadminLocal(realms.client, "addprinc -randkey krbtgt/\(peer)@\(realms.client)").ok)
        }
        var configuration = realms.configuration(realms.client)
        configuration.maxPeerRealms = 2
        let session = try KadminSession(configuration)
        func store(_ peer: String) throws -> KeyWriteOutcome {
            let (material, layout) = testKeys(seed: UInt8(truncatingIfNeeded: peer.count))
            return try session.write(CrossoverKeyWrite(principal: .crossover(client: realms.client, service: peer), kvno: 31_280,
                                                       material: material, layout: layout, from: now, till: now.adding(seconds: 14 * 86_400)))
        }
        #expect(try store("A.TEST") == .written)
        #expect(try store("B.TEST") == .written)
        #expect(throws: (any Error).self, "a third kxover peer under max_peer_realms = 2") { try store("C.TEST") }
    }

    @Test func principalWithoutThePolicyIsNeverTouched() throws {
        let realms = try TestRealms()
        #expect(try realms.kadminLocal(realms.client, "addprinc -randkey krbtgt/SERVICE.TEST@CLIENT.TEST").ok)
        let session = try KadminSession(realms.configuration(realms.client))
        let before = try session.storedKeys(realms.crossoverPrincipal, kvno: 1)
        do {
            _ = try write(realms, realm: realms.client, seed: 1, kvno: 31_280)
            Issue.record("a manually made cross-realm key was overwritten")
        } catch let failure as Krb5Failure {
            #expect(failure.message.contains("not managed by kxover"), "\(failure)")
        }
        #expect(try session.storedKeys(realms.crossoverPrincipal, kvno: 1).map(\.digest) == before.map(\.digest))
        #expect(throws: Krb5Failure.self) { try session.revoke(realms.crossoverPrincipal) }
        #expect(try session.entry(realms.crossoverPrincipal) == .foreign(policy: nil))
    }

    @Test func wrongKeyLengthAndUnsupportedEtypeWriteNothing() throws {
        let realms = try TestRealms()
        let session = try KadminSession(realms.configuration(realms.client))
        let short = [UInt8](repeating: 7, count: 16)
        try short.withUnsafeBytes { bytes in
            do {
                _ = try session.write(realms.crossoverPrincipal, kvno: 31_280, keys: [.init(etype: 18, bytes: bytes)], from: nil, till: nil)
                Issue.record("a 16-byte aes256 key was accepted")
            } catch let failure as Krb5Failure {
                #expect(failure.message.contains("16 bytes, expected 32"), "\(failure)")
            }
            do {
                _ = try session.write(realms.crossoverPrincipal, kvno: 31_280, keys: [.init(etype: 1, bytes: bytes)], from: nil, till: nil)
                Issue.record("des-cbc-crc was accepted")
            } catch let failure as Krb5Failure {
                #expect(failure.message.contains("not supported"), "\(failure)")
            }
        }
        #expect(try session.entry(realms.crossoverPrincipal) == .absent)
    }

    @Test func missingKDBIsAClearError() throws {
        let dir = NSTemporaryDirectory() + "kxkdb-missing-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let kdcConf = """
            [realms]
                NOWHERE.TEST = {
                    database_name = \(dir)/principal
                    key_stash_file = \(dir)/stash
                }
            """
        try kdcConf.write(toFile: dir + "/kdc.conf", atomically: true, encoding: .utf8)
        let configuration = KadminConfiguration(realm: "NOWHERE.TEST", mode: .local, profileFiles: [dir + "/kdc.conf"])
        do {
            _ = try KadminSession(configuration)
            Issue.record("opened a KDB that does not exist")
        } catch let failure as Krb5Failure {
            #expect(failure.operation.contains("opening the NOWHERE.TEST KDB"), "\(failure)")
            #expect(failure.message.contains(dir) || failure.message.lowercased().contains("no such file"), "\(failure)")
        }
    }

    @Test func unreachableKadmindIsAClearError() throws {
        let realms = try TestRealms()
        var configuration = realms.configuration(realms.client, mode: .remote)
        let port = try Command.run(["scripts/realm", "free-ports", "1"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        configuration.adminServer = "127.0.0.1:\(port)"
        let started = Date()
        do {
            _ = try KadminSession(configuration)
            Issue.record("connected to a kadmind that is not running")
        } catch let failure as Krb5Failure {
            #expect(failure.operation.contains("remote mode"), "\(failure)")
        }
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(try KadminSession(realms.configuration(realms.client)).entry(realms.crossoverPrincipal) == .absent)
    }

    @Test func remoteModeWritesThroughKadmind() throws {
        let realms = try TestRealms(kadmind: true)
        let remote = try KadminSession(realms.configuration(realms.client, mode: .remote))
        let (material, layout) = testKeys(seed: 5)
        let outcome = try remote.write(CrossoverKeyWrite(principal: realms.crossoverPrincipal, kvno: 31_280, material: material,
                                                         layout: layout, from: now, till: now.adding(seconds: 86_400 * 14)))
        #expect(outcome == .written)
        _ = try write(realms, realm: realms.service, seed: 5, kvno: 31_280)
        let kvno = try realms.kinitAndKvno(["host/svc.service.test@SERVICE.TEST"])
        #expect(kvno.ok, "\(kvno.text)")
        guard case .managed(let set) = try remote.entry(realms.crossoverPrincipal) else { Issue.record("not managed"); return }
        #expect(set.versions.first?.kvno == 31_280)
        #expect(set.versions.first?.till != nil)
    }

    @Test func listRevokeAndPrune() throws {
        let realms = try TestRealms()
        _ = try write(realms, realm: realms.client, seed: 1, kvno: 31_280, till: now.adding(seconds: -10))
        _ = try write(realms, realm: realms.client, seed: 2, kvno: 31_281)
        _ = try write(realms, realm: realms.service, seed: 2, kvno: 31_281)
        let session = try KadminSession(realms.configuration(realms.client))
        let sets = try session.managedKeySets()
        #expect(sets.map(\.principal) == [realms.crossoverPrincipal])
        #expect(sets.first?.versions.map(\.kvno) == [31_281, 31_280])
        // Prune drops the expired kvno only.
        let pruned = try session.pruneExpired(now: now)
        #expect(pruned.map(\.1) == [31_280])
        #expect(try session.managedKeySets().first?.versions.map(\.kvno) == [31_281])
        #expect(try realms.kinitAndKvno(["host/svc.service.test@SERVICE.TEST"]).ok)
        // Revoking the principal makes the next kvno fail.
        try session.revoke(realms.crossoverPrincipal)
        #expect(try session.entry(realms.crossoverPrincipal) == .absent)
        let after = try realms.kinitAndKvno(["host/svc2.service.test@SERVICE.TEST"])
        #expect(!after.ok)
        #expect(after.text.contains("not found in Kerberos database"), "\(after.text)")
    }
}

@Suite("kadm5 key store: locks, async, CLI", .serialized)
struct KeyStoreIntegrationTests {
    let now = KerberosTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!

    /// Another process holding the KDB lock (as kdb5_util load does) gets a
    /// clear error naming it, and nothing is written.
    @Test func lockedKDBIsRefusedWithoutWriting() throws {
        let realms = try TestRealms()
        let lockFile = "\(realms.dir)/\(realms.client)/principal.kadm5.lock"
        // An open handle first: the lock then bites at the write.
        let session = try KadminSession(realms.configuration(realms.client))
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["python3", "-c", "import fcntl,sys,time; f=open(sys.argv[1],'r+'); fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)", lockFile]
        let out = Pipe()
        holder.standardOutput = out
        try Command.spawnWithSignalsUnblocked(holder)
        defer { holder.terminate(); holder.waitUntilExit() }
        _ = out.fileHandleForReading.availableData   // wait for "locked"
        let (material, layout) = testKeys(seed: 1)
        let started = Date()
        for attempt in ["open", "write"] {
            do {
                if attempt == "open" {
                    _ = try KadminSession(realms.configuration(realms.client))
                } else {
                    _ = try session.write(CrossoverKeyWrite(principal: realms.crossoverPrincipal, kvno: 31_280, material: material,
                                                            layout: layout, from: now, till: now.adding(seconds: 86_400)))
                }
                Issue.record("\(attempt) went ahead on a locked KDB")
            } catch let failure as Krb5Failure {
                #expect(failure.message.contains("locked by process \(holder.processIdentifier)"), "\(failure)")
            }
        }
        #expect(Date().timeIntervalSince(started) < 5)
        holder.terminate()
        holder.waitUntilExit()
        #expect(try session.entry(realms.crossoverPrincipal) == .absent)
    }

    /// The loop-facing store: blocking work on its worker, completion on the loop thread.
    @Test func asyncStoreCompletesOnTheLoop() throws {
        let realms = try TestRealms()
        let loop = try EventLoop()
        let store = KadmKeyStore(configuration: realms.configuration(realms.client), executor: loop.executor)
        let (material, layout) = testKeys(seed: 7)
        var outcomes: [Result<KeyWriteOutcome, KXError>] = []
        var entry: Result<KeyStoreEntry, KXError>?
        let loopThread = Thread.current
        store.store(CrossoverKeyWrite(principal: realms.crossoverPrincipal, kvno: 31_280, material: material, layout: layout,
                                      from: now, till: now.adding(seconds: 86_400))) { result in
            #expect(Thread.current == loopThread)
            outcomes.append(result)
            store.inspect(realms.crossoverPrincipal) { entry = $0 }
        }
        #expect(loop.run(until: { entry != nil }, timeout: 10))
        #expect((try? outcomes.first?.get()) == .written)
        guard case .success(.managed(let set))? = entry else { Issue.record("\(String(describing: entry))"); return }
        #expect(set.versions.map(\.kvno) == [31_280])
        // Errors come back the same way, as KEY_STORING with kadm5's reason.
        var refusal: Result<KeyWriteOutcome, KXError>?
        let (other, otherLayout) = testKeys(seed: 8)
        store.store(CrossoverKeyWrite(principal: realms.crossoverPrincipal, kvno: 31_280, material: other, layout: otherLayout,
                                      from: now, till: now.adding(seconds: 86_400))) { refusal = $0 }
        #expect(loop.run(until: { refusal != nil }, timeout: 10))
        guard case .failure(let error)? = refusal else { Issue.record("different bytes accepted"); return }
        #expect(error.code == .keyStoring)
        #expect(error.detail.contains("already holds different keys"))
    }

    @Test func adminCommandsListShowRevoke() throws {
        let realms = try TestRealms()
        let config = "\(realms.dir)/kxover.conf"
        try """
            [realms]
                CLIENT.TEST = {
                    kadm5_mode = local
                    kdc_profile = \(realms.dir)/CLIENT.TEST/kdc.conf
                    krb5_config = \(realms.krb5Config)
                }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let (material, layout) = testKeys(seed: 1)
        _ = try KadminSession(realms.configuration(realms.client)).write(
            CrossoverKeyWrite(principal: realms.crossoverPrincipal, kvno: 31_280, material: material, layout: layout,
                              from: try KerberosTime("20261128120000Z"), till: try KerberosTime("20261212120000Z")))
        let kxover = DecodeCommandPath.executable
        let list = try Command.run([kxover, "list", "--config", config])
        #expect(list.ok, "\(list.text)")
        #expect(list.out.contains("CLIENT.TEST  krbtgt/SERVICE.TEST@CLIENT.TEST  31280"), "\(list.out)")
        #expect(list.out.contains("2026-12-12 12:00:00"))
        let show = try Command.run([kxover, "show", "--config", config, "krbtgt/SERVICE.TEST@CLIENT.TEST"])
        #expect(show.ok, "\(show.text)")
        #expect(show.out.contains("kvno 31280: aes256-cts-hmac-sha1-96,aes256-cts-hmac-sha384-192"), "\(show.out)")
        // Non-interactive revoke needs --force; then the principal is gone.
        let refused = try Command.run([kxover, "revoke", "--config", config, "krbtgt/SERVICE.TEST@CLIENT.TEST"])
        #expect(!refused.ok)
        #expect(refused.err.contains("--force"))
        let revoke = try Command.run([kxover, "revoke", "--force", "--config", config, "krbtgt/SERVICE.TEST@CLIENT.TEST"])
        #expect(revoke.ok, "\(revoke.text)")
        let after = try Command.run([kxover, "list", "--config", config])
        #expect(after.out.contains("no crossover keys"))
        // Clear errors: missing config, unknown realm, a principal of the wrong shape.
        let missing = try Command.run([kxover, "list", "--config", "\(realms.dir)/nope.conf"])
        #expect(!missing.ok && missing.err.contains("nope.conf"))
        let unknown = try Command.run([kxover, "list", "--config", config, "--realm", "OTHER.TEST"])
        #expect(!unknown.ok && unknown.err.contains("OTHER.TEST is not configured"))
        let shape = try Command.run([kxover, "show", "--config", config, "alice@CLIENT.TEST"])
        #expect(!shape.ok && shape.err.contains("not a crossover principal"))
    }
}

/// The built `kxover` executable beside the test bundle.
enum DecodeCommandPath {
    static let executable: String = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("kxover").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("kxover").path
    }()
}
