import Foundation
import KXDaemon
import KXEventLoop
import KXOver
import Logging
import Testing

/// libkxover-hostrealm.so as krb5kdc loads it: dlopen'd from the build
/// directory (`swift build --build-tests` builds the product beside the tests).
struct HostRealmModule: @unchecked Sendable {
    typealias Ask = @convention(c) (UnsafePointer<CChar>?, UnsafePointer<CChar>?, Int32, UnsafeMutablePointer<CChar>?, Int) -> Int32
    typealias ValidRealm = @convention(c) (UnsafePointer<CChar>?, Int) -> Int32
    typealias ValidHost = @convention(c) (UnsafePointer<CChar>?) -> Int32
    typealias InitVT = @convention(c) (OpaquePointer?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
    typealias HostRealmFn = @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafePointer<CChar>?,
                                            UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int32
    typealias FreeList = @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Void

    // include/CHostRealmModule.h and krb5.h
    static let realm: Int32 = 0, no: Int32 = 1, badHost: Int32 = 2, unreachable: Int32 = 3, timedOut: Int32 = 4, malformed: Int32 = 5
    /// A bound for `kx_hostrealm_ask` in these tests (its argument).
    static let timeoutMS: Int32 = 200
    /// KX_HOSTREALM_TIMEOUT_MS: what host_realm, called by krb5kdc, waits at most.
    static let kdcBoundMS: Int32 = 10
    static let pluginNoHandle: Int32 = -1765328135
    static let pluginVersionNotSupported: Int32 = -1750600192

    let path: String
    let ask: Ask
    let validRealm: ValidRealm
    let validHost: ValidHost
    let initvt: InitVT

    static let loaded: Result<HostRealmModule, TestFailureText> = BuiltModule.open("libkxover-hostrealm.so").flatMap { module in
        let path = module.path
        func symbol<T>(_ name: String, _ type: T.Type) -> T? { module.symbol(name, type) }
        guard let ask = symbol("kx_hostrealm_ask", Ask.self), let validRealm = symbol("kx_hostrealm_valid_realm", ValidRealm.self),
              let validHost = symbol("kx_hostrealm_valid_host", ValidHost.self),
              let initvt = symbol("hostrealm_kxover_initvt", InitVT.self) else {
            return .failure(TestFailureText("\(path) lacks a symbol"))
        }
        return .success(HostRealmModule(path: path, ask: ask, validRealm: validRealm, validHost: validHost, initvt: initvt))
    }

    static func get() throws -> HostRealmModule { try loaded.get() }

    /// One question, as the module asks it: outcome, realm, milliseconds taken.
    func question(_ socket: String, _ host: String, timeoutMS: Int32 = Self.timeoutMS) -> (outcome: Int32, realm: String, ms: Double) {
        var buffer = [CChar](repeating: 0, count: 256)
        let start = DispatchTime.now().uptimeNanoseconds
        let outcome = ask(socket, host, timeoutMS, &buffer, buffer.count)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return (outcome, cString(buffer), ms)
    }

    /// Asks on another thread while this one drives `loop` (where kxoverd's
    /// server runs), with a generous deadline: other suites load the machine.
    func question(_ socket: String, _ host: String, driving loop: EventLoop) -> (outcome: Int32, realm: String, ms: Double)? {
        let result = Mutex<(outcome: Int32, realm: String, ms: Double)?>(nil)
        let thread = Thread { [self] in
            let answer = question(socket, host, timeoutMS: 2000)
            result.withLock { $0 = answer }
        }
        thread.start()
        loop.run(until: { result.withLock { $0 != nil } }, timeout: 3)
        return result.withLock { $0 }
    }
}

/// A stand-in kxoverd on its own thread: accepts one connection, reads the
/// question, sends `reply` and closes its side (nil: stays silent), then
/// reports whether the asker closed its end (EOF within a second): a leaked
/// descriptor would never close.
final class OneShotPeer: @unchecked Sendable {
    let path: String
    let listener: Int32
    private let outcome = Mutex<(question: String, askerClosed: Bool)?>(nil)

    init(directory: String, reply: [UInt8]?, accept: Bool = true) {
        path = directory + "/peer-\(UUID().uuidString.prefix(6)).sock"
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        listen(listener, 4)
        guard accept else { return }
        let server = listener
        Thread { [outcome] in
            let fd = Glibc.accept(server, nil, nil)
            guard fd >= 0 else { return }
            defer { close(fd) }
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var question: [UInt8] = []
            var byte: UInt8 = 0
            while question.last != UInt8(ascii: "\n"), recv(fd, &byte, 1, 0) == 1 { question.append(byte) }
            if let reply {   // then close our side, as kxoverd does
                _ = reply.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                shutdown(fd, Int32(SHUT_WR))
            }
            var rest = [UInt8](repeating: 0, count: 64)
            let n = recv(fd, &rest, rest.count, 0)
            let eof = n == 0 || (n < 0 && errno == ECONNRESET)   // reset: it closed with our reply unread
            outcome.withLock { $0 = (String(decoding: question, as: UTF8.self), eof) }
        }.start()
    }

    /// What the peer saw, once it is done (waits up to two seconds).
    func seen() -> (question: String, askerClosed: Bool)? {
        for _ in 0..<200 {
            if let seen = outcome.withLock({ $0 }) { return seen }
            usleep(10_000)
        }
        return nil
    }

    /// For a peer that never accepts: takes the queued connection and checks the asker closed it.
    func queuedAskerClosed() -> Bool {
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var rest = [UInt8](repeating: 0, count: 512)
        while true {
            let n = recv(fd, &rest, rest.count, 0)
            if n == 0 || (n < 0 && errno == ECONNRESET) { return true }
            if n < 0 { return false }
        }
    }

    deinit {
        close(listener)
        unlink(path)
    }
}

@Suite("hostrealm: the krb5kdc module (libkxover-hostrealm.so)")
struct HostRealmModuleTests {
    @Test func namesAgreeWithTheDaemon() throws {
        let module = try HostRealmModule.get()
        let names = ["SERVICE.TEST", "A.B", "A-1.B2", "service.test", "SERVICE", "-A.B", "A-.B", "A..B", ".A.B", "A.B.", "A_B.C",
                     "svc.service.test", "Svc.Service.Test.", "a.b", "_kerberos.x.y", "localhost", "a b.c", "a..b", "",
                     String(repeating: "A", count: 64) + ".B", String(repeating: "A", count: 63) + ".B",
                     String(repeating: "AB.", count: 84) + "C", String(repeating: "AB.", count: 85) + "C"]
        for name in names {
            #expect((module.validRealm(name, name.utf8.count) != 0) == RealmName.isValid(name), "realm \(name)")
            #expect((module.validHost(name) != 0) == (HostName.normalized(name) != nil), "host \(name)")
        }
    }

    @Test func pluginTable() throws {
        let module = try HostRealmModule.get()
        // krb5_hostrealm_vtable_st: name, init, fini, host_realm, fallback_realm, default_realm, free_list.
        var table = [UnsafeMutableRawPointer?](repeating: nil, count: 7)
        #expect(table.withUnsafeMutableBytes { module.initvt(nil, 2, 0, $0.baseAddress) } == HostRealmModule.pluginVersionNotSupported)
        #expect(table.allSatisfy { $0 == nil })
        #expect(table.withUnsafeMutableBytes { module.initvt(nil, 1, 1, $0.baseAddress) } == 0)
        #expect(table[0].map { String(cString: $0.assumingMemoryBound(to: CChar.self)) } == "kxover")
        #expect(table[1] != nil && table[2] != nil && table[3] != nil && table[6] != nil)
        #expect(table[4] == nil && table[5] == nil, "no fallback or default realm guesses")

        // host_realm itself, with module data naming a socket (init would read it from the profile).
        let hostRealm = unsafeBitCast(table[3]!, to: HostRealmModule.HostRealmFn.self)
        let freeList = unsafeBitCast(table[6]!, to: HostRealmModule.FreeList.self)
        let directory = hostRealmTestDirectory()
        defer { rmdir(directory) }
        let peer = OneShotPeer(directory: directory, reply: Array("SERVICE.TEST\n".utf8))
        let socketPath = strdup(peer.path)
        defer { free(socketPath) }
        var data: UnsafeMutablePointer<CChar>? = socketPath   // struct { char *socket_path; }
        var realms: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        #expect(withUnsafeMutablePointer(to: &data) { hostRealm(nil, UnsafeMutableRawPointer($0), "svc.service.test", &realms) } == 0)
        #expect(realms.flatMap { $0[0] }.map { String(cString: $0) } == "SERVICE.TEST")
        #expect(realms?[1] == nil)
        freeList(nil, nil, realms)
        #expect(peer.seen()?.question == "svc.service.test\n")
        // In doubt (no data, or nothing listening): NO_HANDLE.
        #expect(hostRealm(nil, nil, "svc.service.test", &realms) == HostRealmModule.pluginNoHandle)
        #expect(withUnsafeMutablePointer(to: &data) { hostRealm(nil, UnsafeMutableRawPointer($0), "svc.service.test", &realms) }
                == HostRealmModule.pluginNoHandle)
    }

    @Test func asksKxoverdAndTakesOnlyASecureRealm() throws {
        let module = try HostRealmModule.get()
        let f = try HostRealmServerTests.Fixture()
        // A host kxoverd has not resolved yet: "no pending" (doubt) at once; the lookup fills the cache.
        let first = try #require(module.question(f.path, "svc.service.test", driving: f.loop))
        #expect(first.outcome == HostRealmModule.no && first.realm.isEmpty)
        for host in ["forged.client.test", "plain.client.test"] { _ = module.question(f.path, host, driving: f.loop) }
        f.settle()
        let yes = try #require(module.question(f.path, "svc.service.test", driving: f.loop))
        #expect(yes.outcome == HostRealmModule.realm && yes.realm == "SERVICE.TEST")
        let forged = try #require(module.question(f.path, "forged.client.test", driving: f.loop))
        #expect(forged.outcome == HostRealmModule.no && forged.realm.isEmpty)
        let plain = try #require(module.question(f.path, "plain.client.test", driving: f.loop))
        #expect(plain.outcome == HostRealmModule.no)
        // Names the KDC would not send are not asked about.
        #expect(module.question(f.path, "localhost").outcome == HostRealmModule.badHost)
        #expect(module.question(f.path, "a b.example").outcome == HostRealmModule.badHost)
        #expect(f.server.counters.accepted == 6)
    }

    /// A hung kxoverd (it accepts into its backlog and never answers) is
    /// doubt, not a stall: host_realm, as krb5kdc calls it, returns "no
    /// answer" at its own bound (KX_HOSTREALM_TIMEOUT_MS), every time. How
    /// long that takes the KDC is measured where time belongs: the "kxoverd
    /// hung" check of scripts/e2e (a real krb5kdc) and scripts/hostrealm-bench.
    @Test func aHungKxoverdIsDoubtNotAStall() throws {
        let module = try HostRealmModule.get()
        var table = [UnsafeMutableRawPointer?](repeating: nil, count: 7)
        #expect(table.withUnsafeMutableBytes { module.initvt(nil, 1, 1, $0.baseAddress) } == 0)
        let hostRealm = unsafeBitCast(table[3]!, to: HostRealmModule.HostRealmFn.self)
        let directory = hostRealmTestDirectory()
        defer { rmdir(directory) }
        let hung = OneShotPeer(directory: directory, reply: nil, accept: false)   // connect succeeds into the backlog
        let socketPath = strdup(hung.path)
        defer { free(socketPath) }
        var data: UnsafeMutablePointer<CChar>? = socketPath
        var realms: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        for _ in 0..<5 {
            let outcome = withUnsafeMutablePointer(to: &data) { hostRealm(nil, UnsafeMutableRawPointer($0), "svc.service.test", &realms) }
            #expect(outcome == HostRealmModule.pluginNoHandle)
            #expect(realms == nil)
        }
    }

    @Test func kxoverdAwayIsDoubtAtOnce() throws {
        let module = try HostRealmModule.get()
        let directory = hostRealmTestDirectory()
        defer { rmdir(directory) }
        let missing = module.question(directory + "/none.sock", "svc.service.test")
        #expect(missing.outcome == HostRealmModule.unreachable)
        // A socket file nobody listens on (kxoverd killed hard).
        let stale = OneShotPeer(directory: directory, reply: nil, accept: false)
        close(stale.listener)
        let refused = module.question(stale.path, "svc.service.test")
        #expect(refused.outcome == HostRealmModule.unreachable)
        #expect(module.question(directory + "/" + String(repeating: "x", count: 120), "svc.service.test").outcome == HostRealmModule.unreachable)
    }

    /// A silent kxoverd ends the question as "timed out", whatever the bound
    /// (the time it costs is measured by scripts/hostrealm-bench and scripts/e2e).
    @Test func aSilentKxoverdIsATimeout() throws {
        let module = try HostRealmModule.get()
        let directory = hostRealmTestDirectory()
        defer { rmdir(directory) }
        // Listening, never accepting (a hung kxoverd): connect succeeds into the backlog.
        let hung = OneShotPeer(directory: directory, reply: nil, accept: false)
        let silent = module.question(hung.path, "svc.service.test")
        #expect(silent.outcome == HostRealmModule.timedOut)
        #expect(hung.queuedAskerClosed(), "the module closed its socket")
        // Accepting, reading, never answering.
        let mute = OneShotPeer(directory: directory, reply: nil)
        let quiet = module.question(mute.path, "svc.service.test", timeoutMS: 50)
        #expect(quiet.outcome == HostRealmModule.timedOut)
        #expect(mute.seen()?.askerClosed == true)
        #expect(module.question(mute.path, "svc.service.test", timeoutMS: 0).outcome == HostRealmModule.timedOut)
    }

    @Test(arguments: [
        ("service.test\n", HostRealmModule.malformed),          // not an upper-case realm
        ("SERVICE.TEST", HostRealmModule.malformed),            // no LF before EOF
        ("SERVICE.TEST\nEXTRA\n", HostRealmModule.malformed),   // more than one line
        ("SERVICE.TEST \n", HostRealmModule.malformed),
        ("\n", HostRealmModule.malformed),
        ("", HostRealmModule.malformed),                        // EOF at once
        (String(repeating: "A", count: 300) + "\n", HostRealmModule.malformed),
        ("nope\n", HostRealmModule.malformed),
        ("no\n", HostRealmModule.no),
        ("no insecure\n", HostRealmModule.no),
        ("EXAMPLE.ORG\n", HostRealmModule.realm),
    ])
    func answersOtherThanARealmAreDoubt(_ reply: String, _ expected: Int32) throws {
        let module = try HostRealmModule.get()
        let directory = hostRealmTestDirectory()
        defer { rmdir(directory) }
        let peer = OneShotPeer(directory: directory, reply: Array(reply.utf8))
        // A generous deadline (the peer is a thread, other suites load the
        // machine): every one of these ends on what the peer sent, not on time.
        let answer = module.question(peer.path, "svc.example.org", timeoutMS: 2000)
        #expect(answer.outcome == expected, "\(reply.debugDescription)")
        #expect(answer.outcome == HostRealmModule.realm ? answer.realm == "EXAMPLE.ORG" : answer.realm.isEmpty)
        let seen = peer.seen()
        #expect(seen?.question == "svc.example.org\n")
        #expect(seen?.askerClosed == true, "the module closed its socket")
    }
}
