import Foundation
import KXDaemon
import KXEventLoop
import KXKDB
import KXOver
import Logging
import Testing

extension KadminSessionTests {
/// The keeper against an engine that has been taken over: a test plays the
/// engine on the keeper's end of a real channel, with a real KDB behind it.
/// Whatever it asks beyond a crossover principal of the realm is refused,
/// nothing is written, and the keeper goes on serving; a frame that does not
/// decode ends that channel (the keeper then starts a fresh engine).
/// (Nested: kadm5's process-wide state allows one test at a time.)
@Suite("keeper against a compromised engine")
struct KeeperChannelTests {
    let now = KerberosTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!

    /// A keeper serving CLIENT.TEST's KDB on one end of a socketpair; the test holds the other.
    final class Harness {
        let loop: EventLoop
        let server: KeeperServer
        let engine: Int32
        var reader = KeeperFrameReader()
        var closed: String?
        let store: KadmKeyStore

        init(_ realms: TestRealms) throws {
            loop = try EventLoop()
            var ends: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0 else { throw TestFailure("socketpair") }
            engine = ends[1]
            store = KadmKeyStore(configuration: realms.configuration(realms.client), executor: loop.executor)
            server = KeeperServer(fd: ends[0], loop: loop,
                                  realms: [.init(name: realms.client, store: store, replica: nil, lifetime: 14 * 86_400)],
                                  checkInterval: 600, storesPerMinute: 100, logger: Logger(label: "keeper-test"))
            server.start { [weak self] reason in self?.closed = reason }
        }

        deinit {
            close(engine)
            store.close(timeout: 5)
        }

        /// Sends `frame` as the engine and runs the keeper until it answers (or ends the channel).
        func ask(_ frame: [UInt8]) throws -> KeeperReply? {
            _ = frame.withUnsafeBytes { Glibc.write(engine, $0.baseAddress, $0.count) }
            var replies: [[UInt8]] = []
            _ = loop.run(until: {
                var buffer = [UInt8](repeating: 0, count: 65536)
                let n = recv(self.engine, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if n > 0 { replies += (try? self.reader.feed(buffer[0..<n])) ?? [] }
                return !replies.isEmpty || self.closed != nil
            }, timeout: 20)
            return try replies.first.map { try KeeperWire.decodeReply($0).body }
        }

        func store(_ write: CrossoverKeyWrite, realm: String) throws -> KeeperReply? {
            try ask(KeeperWire.encode(KeeperEnvelope(id: 1, body: .store(realm: realm, write: write))))
        }
    }

    func keyWrite(_ principal: Principal, seed: UInt8 = 9) -> CrossoverKeyWrite {
        let (material, layout) = testKeys(seed: seed)
        return CrossoverKeyWrite(principal: principal, kvno: 31_280, material: material, layout: layout,
                                 from: now, till: now.adding(seconds: 14 * 86_400))
    }

    /// Every principal with its kvnos, as kadmin.local lists them: what an attacker would change.
    static func kdbState(_ realms: TestRealms) throws -> String {
        var lines: [String] = []
        for principal in try realms.kadminLocal(realms.client, "listprincs").out.split(separator: "\n").sorted() {
            let keys = try realms.kadminLocal(realms.client, "getprinc \(principal)").out.split(separator: "\n")
                .filter { $0.contains("vno ") || $0.hasPrefix("Key: ") || $0.hasPrefix("Policy") }
            lines.append("\(principal): \(keys.joined(separator: "; "))")
        }
        return lines.joined(separator: "\n")
    }

    @Test func refusedRequestsWriteNothingAndTheKeeperServesOn() throws {
        let realms = try TestRealms()
        let harness = try Harness(realms)
        let local = realms.client
        let before = try Self.kdbState(realms)
        #expect(before.contains("K/M@\(local)") && before.contains("krbtgt/\(local)@\(local)"))
        func named(_ components: [String], _ realm: String) -> Principal {
            Principal(realm: realm, name: PrincipalName(nameType: NameType.serviceInstance, components: components))
        }
        let hostile: [(String, Principal)] = [
            ("the realm's own krbtgt", named(["krbtgt", local], local)),
            ("the master key", named(["K", "M"], local)),
            ("a user", named(["alice"], local)),
            ("the admin principal", named(["kadmin", "admin"], local)),
            ("a third component", named(["krbtgt", realms.service, "x"], local)),
        ]
        for (what, principal) in hostile {
            guard case .failed(let error) = try harness.store(keyWrite(principal), realm: local) else {
                Issue.record("\(what): not refused"); continue
            }
            #expect(error.detail.contains("the keeper refused"), "\(what): \(error.detail)")
        }
        // A realm the keeper does not hold, though it names a good principal.
        guard case .failed = try harness.store(keyWrite(realms.crossoverPrincipal), realm: realms.service) else {
            Issue.record("another realm's store was not refused"); return
        }
        #expect(harness.closed == nil, "refusals end nothing: \(harness.closed ?? "")")
        #expect(harness.server.violations == hostile.count + 1)
        #expect(try Self.kdbState(realms) == before, "a refused request changed the KDB")

        // The keeper still serves: a proper crossover key is written (the positive control).
        guard case .written(.written) = try harness.store(keyWrite(realms.crossoverPrincipal), realm: local) else {
            Issue.record("a proper store failed"); return
        }
        #expect(try realms.kadminLocal(local, "getprinc \(realms.crossoverPrincipal)").out.contains("vno 31280"))
    }

    @Test func aMalformedFrameEndsTheChannelAndWritesNothing() throws {
        let realms = try TestRealms()
        let harness = try Harness(realms)
        let before = try Self.kdbState(realms)
        // A store whose key is one byte short of its etypes: the decoder refuses it.
        var frame = KeeperWire.encode(KeeperEnvelope(id: 1, body: KeeperRequest.store(realm: realms.client, write: keyWrite(realms.crossoverPrincipal))))
        let lengthAt = frame.count - 16 - 64 - 2   // aes256-sha1 + aes256-sha384: 64 bytes, then the two times
        #expect(frame[lengthAt + 1] == 64)
        frame[lengthAt + 1] = 63
        frame.remove(at: lengthAt + 2)
        frame[3] -= 1
        #expect(try harness.ask(frame) == nil)
        #expect(harness.closed?.contains("malformed") == true, "\(harness.closed ?? "open")")
        #expect(harness.server.endedOnMalformedInput, "the keeper knows to end that engine")
        #expect(harness.server.violations == 1)
        #expect(try Self.kdbState(realms) == before)
        // A frame longer than any message ends a fresh channel the same way.
        let other = try Harness(realms)
        #expect(try other.ask([0x7F, 0xFF, 0xFF, 0xFF, 1, 2]) == nil)
        #expect(other.closed?.contains("malformed") == true)
    }
}
}
