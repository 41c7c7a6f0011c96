import Foundation
import KXDaemon
import KXDNS
import KXEventLoop
import KXOver
import Logging
import Testing

@Suite("hostrealm: line protocol and the Secure TXT cache")
struct HostRealmProtocolTests {
    func request(_ text: String) -> HostRealmProtocol.Request { HostRealmProtocol.request(Array(text.utf8)) }

    @Test func requests() {
        #expect(request("svc.example.org\n") == .host("svc.example.org"))
        #expect(request("Svc.Example.ORG.\n") == .host("svc.example.org"))
        #expect(request("svc.exam") == .incomplete)
        #expect(request("") == .incomplete)
        for bad in ["\n", "localhost\n", "a b.c\n", "a..b\n", "svc.example.org\nmore", "svc.example.org\n\n",
                    "svc.example.org\r\n", "ä.example.org\n", String(repeating: "a.", count: 128)] {
            #expect(request(bad) == .malformed, "\(bad.debugDescription)")
        }
        let longest = String(repeating: "a", count: 61) + "." + Array(repeating: String(repeating: "a", count: 63), count: 3).joined(separator: ".")
        #expect(request(longest + "\n") == .host(longest))          // 253 octets
        #expect(request("a" + longest + "\n") == .malformed)        // 254
    }

    @Test func answers() {
        #expect(HostRealmProtocol.answer(realm: "SERVICE.TEST") == Array("SERVICE.TEST\n".utf8))
        #expect(String(decoding: HostRealmProtocol.answer(realm: "service.test"), as: UTF8.self).hasPrefix("no "))
        #expect(HostRealmProtocol.refusal("") == Array("no\n".utf8))
        #expect(HostRealmProtocol.refusal("busy") == Array("no busy\n".utf8))
        let long = HostRealmProtocol.refusal(String(repeating: "x", count: 1000) + "\n\u{7}é")
        #expect(long.count == HostRealmProtocol.maximumLine)
        #expect(long.last == UInt8(ascii: "\n") && long.dropLast().allSatisfy { (0x20..<0x7F).contains($0) })
        let odd = HostRealmProtocol.refusal("a\nb\u{0}é")
        #expect(odd.filter { $0 == UInt8(ascii: "\n") }.count == 1 && odd.last == UInt8(ascii: "\n"))
    }

    /// Asks `name` and drives the loop until the answer is in.
    func ask(_ resolver: Resolver, _ name: String, _ type: DNSRecordType = .txt, loop: EventLoop) -> Result<DNSAnswer, DNSFailure>? {
        var result: Result<DNSAnswer, DNSFailure>?
        resolver.query(name, type) { result = $0 }
        loop.run(until: { result != nil }, timeout: 2)
        return result
    }

    @Test func secureAnswersAreReusedOthersAreNot() throws {
        let loop = try EventLoop()
        let upstream = ScriptedResolver(loop: loop)
        let cache = SecureAnswerCache(upstream: upstream, loop: loop, rule: .hostRealmTXT(ttl: 60))
        upstream.say("_kerberos.svc.example.org", "EXAMPLE.ORG")
        upstream.say("_kerberos.gone.example.org", nil)
        upstream.say("_kerberos.plain.example.net", "EXAMPLE.NET", security: .insecure)
        upstream.say("_kerberos.forged.example.org", "EVIL.ORG", security: .bogus(reason: "signature"))
        upstream.answers["_kerberos.slow.example.org"] = .failure(.timeout(seconds: 5))
        for name in ["_kerberos.svc.example.org", "_kerberos.gone.example.org", "_kerberos.plain.example.net",
                     "_kerberos.forged.example.org", "_kerberos.slow.example.org"] {
            for _ in 0..<3 { #expect(ask(cache, name, loop: loop) != nil) }
        }
        #expect(upstream.asked.filter { $0 == "_kerberos.svc.example.org" }.count == 1)
        #expect(upstream.asked.filter { $0 == "_kerberos.gone.example.org" }.count == 1, "authenticated denial is a Secure answer")
        #expect(upstream.asked.filter { $0 == "_kerberos.plain.example.net" }.count == 3)
        #expect(upstream.asked.filter { $0 == "_kerberos.forged.example.org" }.count == 3)
        #expect(upstream.asked.filter { $0 == "_kerberos.slow.example.org" }.count == 3)
        #expect(cache.count == 2 && cache.hits == 4)
        // Case and a root dot do not make a new question.
        #expect(try ask(cache, "_KERBEROS.Svc.Example.Org.", loop: loop)?.get().rdata == [Array("\u{b}EXAMPLE.ORG".utf8)])
        #expect(upstream.asked.count == 1 + 1 + 3 + 3 + 3)
    }

    @Test func onlyKerberosTXTQuestionsAreCached() throws {
        let loop = try EventLoop()
        let upstream = ScriptedResolver(loop: loop)
        let cache = SecureAnswerCache(upstream: upstream, loop: loop, rule: .hostRealmTXT(ttl: 60))
        for _ in 0..<2 {
            _ = ask(cache, "_kerberos-tls._tcp.example.org", .srv, loop: loop)
            _ = ask(cache, "_88._tcp.kdc.example.org", .tlsa, loop: loop)
            _ = ask(cache, "other.example.org", .txt, loop: loop)
        }
        #expect(upstream.asked.count == 6 && cache.count == 0)
        let off = SecureAnswerCache(upstream: upstream, loop: loop, rule: .hostRealmTXT(ttl: 0))
        _ = ask(off, "_kerberos.a.example.org", loop: loop)
        _ = ask(off, "_kerberos.a.example.org", loop: loop)
        #expect(upstream.asked.count == 8 && off.count == 0)
    }

    @Test func entriesExpireAndTheCacheIsBounded() throws {
        let loop = try EventLoop()
        let upstream = ScriptedResolver(loop: loop)
        let clock = Mutex<Double>(1000)
        let cache = SecureAnswerCache(upstream: upstream, loop: loop, rule: .hostRealmTXT(ttl: 30), capacity: 2, now: { clock.withLock { $0 } })
        _ = ask(cache, "_kerberos.a.example.org", loop: loop)
        clock.withLock { $0 += 29 }
        _ = ask(cache, "_kerberos.a.example.org", loop: loop)
        #expect(upstream.asked.count == 1)
        clock.withLock { $0 += 2 }
        _ = ask(cache, "_kerberos.a.example.org", loop: loop)
        #expect(upstream.asked.count == 2)
        for name in ["_kerberos.b.example.org", "_kerberos.c.example.org", "_kerberos.d.example.org"] {
            _ = ask(cache, name, loop: loop)
            #expect(cache.count <= 2)
        }
        // A TTL beyond the bound is cut to it.
        let long = SecureAnswerCache(upstream: upstream, loop: loop, rule: .hostRealmTXT(ttl: 1e9), now: { clock.withLock { $0 } })
        _ = ask(long, "_kerberos.e.example.org", loop: loop)
        clock.withLock { $0 += SecureAnswerCache.maximumTTL + 1 }
        _ = ask(long, "_kerberos.e.example.org", loop: loop)
        #expect(upstream.asked.filter { $0 == "_kerberos.e.example.org" }.count == 2)
    }

    @Test func identicalQuestionsInFlightAreAskedOnceAndCancelIsHonoured() throws {
        let loop = try EventLoop()
        let upstream = ScriptedResolver(loop: loop)
        let cache = SecureAnswerCache(upstream: upstream, loop: loop, rule: .hostRealmTXT(ttl: 60))
        upstream.say("_kerberos.svc.example.org", "EXAMPLE.ORG")
        var answered: [Int] = []
        cache.query("_kerberos.svc.example.org", .txt) { _ in answered.append(1) }
        let second = cache.query("_kerberos.svc.example.org", .txt) { _ in answered.append(2) }
        cache.query("_kerberos.svc.example.org", .txt) { _ in answered.append(3) }
        second.cancel()
        loop.run(until: { answered.count == 2 }, timeout: 2)
        loop.run(until: { false }, timeout: 0.05)
        #expect(answered == [1, 3])
        #expect(upstream.asked.count == 1 && cache.count == 1)
        // A cancelled cache hit never answers either.
        var late = false
        cache.query("_kerberos.svc.example.org", .txt) { _ in late = true }.cancel()
        loop.run(until: { false }, timeout: 0.05)
        #expect(!late)
    }
}

@Suite("hostrealm: the socket server")
struct HostRealmServerTests {
    final class Fixture {
        let loop: EventLoop
        let resolver: ScriptedResolver
        let server: HostRealmServer
        let directory: String
        /// The cache's clock (seconds): tests move it.
        let clock = Mutex<Double>(1000)
        var path: String { server.path }
        var hostRealms: HostRealmLookup { server.hostRealms }

        init(limits: HostRealmServer.Limits = HostRealmServer.Limits(), policy: HostRealmCache.Policy = .init(),
             maxInFlight: Int = HostRealmLookup.defaultMaxInFlight, maxPrefetches: Int = HostRealmLookup.defaultMaxPrefetches) throws {
            loop = try EventLoop()
            resolver = ScriptedResolver(loop: loop)
            directory = hostRealmTestDirectory()
            let cache = SecureAnswerCache(upstream: resolver, loop: loop, rule: .hostRealmTXT(ttl: 60))
            var logger = Logger(label: "hostrealm-test")
            logger.logLevel = .critical
            let clock = self.clock
            let hostRealms = HostRealmLookup(lookups: KXOverLookups(resolver: cache), policy: policy, maxInFlight: maxInFlight,
                                             maxPrefetches: maxPrefetches, now: { clock.withLock { $0 } })
            server = HostRealmServer(path: directory + "/hostrealm.sock", hostRealms: hostRealms,
                                     loop: loop, limits: limits, logger: logger)
            try server.start()
            resolver.say("_kerberos.svc.service.test", "SERVICE.TEST")
            resolver.say("_kerberos.service.test", "SERVICE.TEST")
            resolver.say("_kerberos.forged.client.test", "SERVICE.TEST", security: .bogus(reason: "RRSIG"))
            resolver.say("_kerberos.plain.client.test", "SERVICE.TEST", security: .insecure)
        }

        deinit {
            server.close()
            rmdir(directory)
        }

        func ask(_ line: String, timeout: Double = 3) -> String? {
            askHostRealmSocket(path, Array(line.utf8), loop: loop, timeout: timeout)
        }

        /// Drives the loop until no host lookup is in flight.
        func settle() {
            loop.run(until: { self.hostRealms.inFlight == 0 }, timeout: 2)
        }

        /// The answer once the cache knows `line`'s host: the first question
        /// is a miss ("no pending"), which starts the lookup.
        func askTwice(_ line: String) -> String? {
            let first = ask(line)
            guard first == pendingLine else { return first }
            settle()
            return ask(line)
        }

        let pendingLine = "no \(HostRealmServer.pending)\n"
    }

    @Test func answersWithTheRealmOrNo() throws {
        let f = try Fixture()
        #expect(f.askTwice("svc.service.test\n") == "SERVICE.TEST\n")
        #expect(f.askTwice("SVC2.Service.Test.\n") == "SERVICE.TEST\n", "walks up to _kerberos.service.test")
        #expect(f.askTwice("forged.client.test\n")?.hasPrefix("no _kerberos.forged.client.test TXT is bogus") == true)
        #expect(f.askTwice("plain.client.test\n")?.hasPrefix("no _kerberos.plain.client.test TXT is not DNSSEC-signed") == true)
        #expect(f.askTwice("nowhere.example\n")?.hasPrefix("no no _kerberos TXT record") == true)
        #expect(f.ask("localhost\n") == "no malformed request\n")
        #expect(f.ask(String(repeating: "x", count: 300)) == "no malformed request\n")
        #expect(f.ask("svc.service.test\nsvc.service.test\n") == "no malformed request\n")
        #expect(f.server.counters.realms == 2 && f.server.counters.refusals == 3 && f.server.counters.malformed == 3)
        #expect(f.server.counters.misses == 5)
        // The third question about the same host is answered from the cache.
        #expect(f.ask("svc.service.test\n") == "SERVICE.TEST\n")
        #expect(f.resolver.asked.filter { $0 == "_kerberos.svc.service.test" }.count == 1)
        f.loop.run(until: { f.server.openConnections == 0 }, timeout: 1)
        #expect(f.server.openConnections == 0)
    }

    /// The module's question never waits for DNS: a host not in the cache is
    /// "no pending" at once, its lookup runs on, and the next question hits.
    @Test func aMissIsNoAtOnceAndTheLookupFillsTheCache() throws {
        let f = try Fixture()
        f.resolver.silent = ["_kerberos.slow.service.test"]
        #expect(f.ask("slow.service.test\n") == f.pendingLine)
        #expect(f.server.counters.misses == 1 && f.server.counters.timeouts == 0)
        #expect(f.hostRealms.inFlight == 1, "the lookup runs on in the background")
        // Asked again while it runs: still no, and no second lookup.
        #expect(f.ask("slow.service.test\n") == f.pendingLine)
        #expect(f.resolver.asked.filter { $0 == "_kerberos.slow.service.test" }.count == 1)
        // The answer arrives: the next question is a hit.
        f.resolver.silent = []
        f.resolver.say("_kerberos.slow.service.test", "SERVICE.TEST")
        f.resolver.release("_kerberos.slow.service.test")
        f.settle()
        #expect(f.ask("slow.service.test\n") == "SERVICE.TEST\n")
        #expect(f.server.counters.realms == 1)
    }

    /// Insecure, bogus and failed lookups are remembered for the refusal TTL:
    /// asked again within it, DNS is not asked again; after it, it is.
    @Test func refusalsAreRememberedBriefly() throws {
        let f = try Fixture(policy: .init(realmTTL: 60, refusalTTL: 10))
        f.resolver.answers["_kerberos.down.client.test"] = .failure(.timeout(seconds: 5))
        for host in ["plain.client.test", "forged.client.test", "down.client.test"] {
            #expect(f.askTwice("\(host)\n")?.hasPrefix("no _kerberos.\(host) TXT") == true)
            for _ in 0..<3 { #expect(f.ask("\(host)\n")?.hasPrefix("no _kerberos.\(host) TXT") == true) }
            #expect(f.resolver.asked.filter { $0 == "_kerberos.\(host)" }.count == 1, "\(host)")
        }
        f.clock.withLock { $0 += 10.5 }
        #expect(f.ask("plain.client.test\n") == f.pendingLine, "expired: looked up again")
        f.settle()
        #expect(f.resolver.asked.filter { $0 == "_kerberos.plain.client.test" }.count == 2)
        // A realm outlives the refusal TTL.
        #expect(f.askTwice("svc.service.test\n") == "SERVICE.TEST\n")
        f.clock.withLock { $0 += 30 }
        #expect(f.ask("svc.service.test\n") == "SERVICE.TEST\n")
    }

    /// Random names cannot start unbounded lookups: beyond the prefetch cap a
    /// miss is "no busy", while a lookup someone waits for (the engine's, for
    /// a request it holds) still starts, up to the overall cap.
    @Test func lookupsInFlightAreCapped() throws {
        let f = try Fixture(maxInFlight: 3, maxPrefetches: 2)
        f.resolver.silent = ["_kerberos.r1.slow.test", "_kerberos.r2.slow.test", "_kerberos.r3.slow.test", "_kerberos.r4.slow.test"]
        #expect(f.ask("r1.slow.test\n") == f.pendingLine)
        #expect(f.ask("r2.slow.test\n") == f.pendingLine)
        #expect(f.ask("r3.slow.test\n") == "no busy\n")
        #expect(f.hostRealms.inFlight == 2 && f.hostRealms.prefetches == 2 && f.hostRealms.busy == 1)
        #expect(!f.resolver.asked.contains("_kerberos.r3.slow.test"))
        // The engine's lookup for a held request still gets its room...
        var held: Result<String, KXError>?
        f.hostRealms.resolve("svc.service.test") { held = $0 }
        f.loop.run(until: { held != nil }, timeout: 2)
        #expect((try? held?.get()) == "SERVICE.TEST")
        // ...and the module finds its answer.
        #expect(f.ask("svc.service.test\n") == "SERVICE.TEST\n")
        // The overall cap holds for everyone.
        var third: Result<String, KXError>?
        f.hostRealms.resolve("r3.slow.test") { third = $0 }
        #expect(third == nil && f.hostRealms.inFlight == 3)
        var fourth: Result<String, KXError>?
        f.hostRealms.resolve("r4.slow.test") { fourth = $0 }
        if case .failure(let error)? = fourth { #expect(error.detail.hasPrefix("busy: 3 host lookups in flight")) }
        else { Issue.record("a fourth lookup beyond the overall cap: \(String(describing: fourth))") }
        // An answer frees the room.
        f.resolver.release("_kerberos.r1.slow.test")
        f.loop.run(until: { f.hostRealms.inFlight == 2 }, timeout: 2)
        #expect(f.ask("r3.slow.test\n") == f.pendingLine, "r3 is in flight already: joined, not refused")
        #expect(f.ask("r1.slow.test\n")?.hasPrefix("no no _kerberos TXT record") == true)
    }

    @Test func aClientThatNeverSendsALineIsDroppedAtTheConnectionBound() throws {
        var limits = HostRealmServer.Limits()
        limits.connectionTimeout = 0.2
        let f = try Fixture(limits: limits)
        #expect(f.ask("svc.serv", timeout: 2) == "no timeout\n")
        #expect(f.server.counters.timeouts == 1 && f.server.openConnections == 0)
    }

    @Test func connectionsBeyondTheCapAreToldBusy() throws {
        var limits = HostRealmServer.Limits()
        limits.maxConnections = 1
        let f = try Fixture(limits: limits)
        let idle = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(idle) }
        #expect(connectUnix(idle, f.path) == 0)
        f.loop.run(until: { f.server.openConnections == 1 }, timeout: 1)
        #expect(unixSockets(boundTo: f.path) == 2, "the listener and the connection it accepted")
        #expect(f.ask("svc.service.test\n") == "no busy\n")
        #expect(f.server.counters.busy == 1)
    }

    @Test func aClientThatLeavesEarlyCostsNothing() throws {
        let f = try Fixture()
        f.resolver.silent = ["_kerberos.slow.service.test"]
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #expect(connectUnix(fd, f.path) == 0)
        _ = Array("svc.service.test\n".utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(fd)   // gone before the answer: the write fails quietly (no SIGPIPE), the connection ends
        f.loop.run(until: { f.server.openConnections == 0 && f.server.counters.accepted == 1 }, timeout: 1)
        f.loop.run(until: { false }, timeout: 0.05)
        #expect(f.server.openConnections == 0)
        #expect(f.ask("svc.service.test\n") == "SERVICE.TEST\n")
    }

    @Test func theSocketFileIsOursAlone() throws {
        let directory = hostRealmTestDirectory()
        defer { rmdir(directory) }
        let loop = try EventLoop()
        let lookups = KXOverLookups(resolver: ScriptedResolver(loop: loop))
        var logger = Logger(label: "hostrealm-test")
        logger.logLevel = .critical
        let path = directory + "/hostrealm.sock"
        // A regular file is never replaced.
        _ = FileManager.default.createFile(atPath: path, contents: Data("keep".utf8))
        #expect(throws: HostRealmServerError.self) {
            try HostRealmServer(path: path, lookups: lookups, loop: loop, logger: logger).start()
        }
        #expect((try? String(contentsOfFile: path, encoding: .utf8)) == "keep")
        unlink(path)
        // A stale socket (nobody listening) is replaced; a live one is refused.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(stale)
        let first = HostRealmServer(path: path, lookups: lookups, loop: loop, logger: logger)
        try first.start()
        var info = stat()
        #expect(lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFSOCK && (info.st_mode & 0o777) == 0o660)
        #expect(throws: HostRealmServerError.self) {
            try HostRealmServer(path: path, lookups: lookups, loop: loop, logger: logger).start()
        }
        #expect(access(path, F_OK) == 0, "the live socket stays")
        first.close()
        #expect(access(path, F_OK) != 0, "close removes our socket")
        // ...but not a file someone else put there meanwhile.
        let second = HostRealmServer(path: path, lookups: lookups, loop: loop, logger: logger)
        try second.start()
        unlink(path)
        _ = FileManager.default.createFile(atPath: path, contents: Data("theirs".utf8))
        second.close()
        #expect((try? String(contentsOfFile: path, encoding: .utf8)) == "theirs")
        unlink(path)
        #expect(throws: HostRealmServerError.self) {
            try HostRealmServer(path: directory + "/" + String(repeating: "x", count: 120), lookups: lookups, loop: loop, logger: logger).start()
        }
    }

    @Test func noDescriptorOutlivesItsConnection() throws {
        var limits = HostRealmServer.Limits()
        limits.connectionTimeout = 0.1
        let f = try Fixture(limits: limits)
        f.resolver.silent = ["_kerberos.slow.service.test"]
        for round in 0..<10 {
            _ = f.ask("svc\(round).service.test\n")
            _ = f.ask("forged.client.test\n")
            _ = f.ask("bad host\n")
            _ = f.ask("slow.service.test\n")
        }
        f.loop.run(until: { f.server.openConnections == 0 }, timeout: 1)
        #expect(f.server.counters.accepted == 40 && f.server.openConnections == 0)
        // The kernel's view (other tests run in this process too, so no global
        // descriptor count): the listener is the only socket left on the path.
        #expect(unixSockets(boundTo: f.path) == 1)
        f.server.close()
        #expect(unixSockets(boundTo: f.path) == 0)
    }
}

/// Sockets of this host bound to `path` (a listener and the connections it accepted), from /proc/net/unix.
func unixSockets(boundTo path: String) -> Int {
    // Read to the end: procfs reports size 0, and the table outgrows one page.
    let data = FileHandle(forReadingAtPath: "/proc/net/unix").map { handle in
        defer { try? handle.close() }
        return handle.readDataToEndOfFile()
    } ?? Data()
    let table = String(decoding: data, as: UTF8.self)
    return table.split(separator: "\n").filter { $0.hasSuffix(" " + path) }.count
}

@Suite("hostrealm: configuration")
struct HostRealmConfigurationTests {
    func load(_ kxoverd: String) throws -> Configuration {
        let directory = hostRealmTestDirectory()
        defer { rmdir(directory) }
        let path = directory + "/kxover.conf"
        try "[kxoverd]\n\(kxoverd)\n[realms]\n    CLIENT.TEST = {\n        kdc_host = kdc.client.test\n    }\n"
            .write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        return try Configuration.load(path: path)
    }

    @Test func relations() throws {
        let off = try load("    listen = 127.0.0.1:88")
        #expect(off.hostRealmSocket == nil && !off.hostBasedTriggers && off.hostRealmCacheTTL == 60)
        let on = try load("""
                hostrealm_socket = /tmp/hostrealm.sock
                host_based_triggers = true
                hostrealm_cache_ttl = 5m
            """)
        #expect(on.hostRealmSocket == "/tmp/hostrealm.sock" && on.hostBasedTriggers && on.hostRealmCacheTTL == 300)
        #expect(try load("    hostrealm_cache_ttl = 0").hostRealmCacheTTL == 0)
        #expect(off.hostRealmNegativeTTL == 10)
        #expect(try load("    hostrealm_negative_ttl = 30s").hostRealmNegativeTTL == 30)
        #expect(try load("    hostrealm_negative_ttl = 0").hostRealmNegativeTTL == 0)
        for bad in ["6m", "never"] {
            #expect(throws: ConfigurationError.self) { try load("    hostrealm_negative_ttl = \(bad)") }
        }
        for bad in ["2h", "soon", "-5"] {
            #expect(throws: ConfigurationError.self) { try load("    hostrealm_cache_ttl = \(bad)") }
        }
    }

    @Test func theSocketMustGoIntoAnExistingDirectory() throws {
        var configuration = try load("    hostrealm_socket = /nonexistent-kxover/hostrealm.sock")
        #expect(configuration.daemonProblems().contains { $0.contains("hostrealm_socket") })
        configuration.hostRealmSocket = "relative.sock"
        #expect(configuration.daemonProblems().contains { $0.contains("hostrealm_socket") })
        configuration.hostRealmSocket = "/tmp/hostrealm.sock"
        #expect(!configuration.daemonProblems().contains { $0.contains("hostrealm_socket") })
    }
}
