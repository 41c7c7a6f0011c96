import Foundation
import Testing
import KXDNS
import KXEventLoop
import KXOver

@Suite("DNSSEC resolver against the signed test zone")
struct ResolverTests {
    @Test func secureRecordsParse() throws {
        try withResolver { resolver, loop in
            let lookups = KXOverLookups(resolver: resolver)
            let realm = waitFor(loop) { done in lookups.realm(ofHost: "svc.service.test") { done($0) } }
            #expect((try? realm?.get()) == "SERVICE.TEST")
            let kdcs = waitFor(loop) { done in lookups.kdcs(ofRealm: "SERVICE.TEST", random: SystemRandomNumberGenerator()) { done($0) } }
            #expect((try? kdcs?.get()) == [DNSRecords.SRV(priority: 0, weight: 0, port: 18088, target: "kdc.service.test")])
            let tlsa = waitFor(loop) { done in lookups.tlsa(ofHost: "kdc.service.test") { done($0) } }
            let expected = try TestZone.shared.tlsaRecord("service").lowercased()
            #expect((try? tlsa?.get())?.map(\.description) == [expected])
            let addresses = waitFor(loop) { done in lookups.addresses(ofHost: "kdc.service.test") { done($0) } }
            #expect((try? addresses?.get()) == ["::1", "127.0.0.1"])
        }
    }

    @Test func realmWalksUpOverAuthenticatedDenial() throws {
        try withResolver { resolver, loop in
            let lookups = KXOverLookups(resolver: resolver)
            // gone.service.test has no records at all: its denial is signed, so the apex answers.
            let raw = waitFor(loop) { done in resolver.query("_kerberos.gone.service.test", .txt) { done($0) } }
            let answer = try #require(try raw?.get())
            #expect(answer.security == .secure)
            #expect(answer.nameDoesNotExist)
            #expect(answer.isAuthenticatedDenial)
            let realm = waitFor(loop) { done in lookups.realm(ofHost: "gone.service.test") { done($0) } }
            #expect((try? realm?.get()) == "SERVICE.TEST")
            let other = waitFor(loop) { done in lookups.realm(ofHost: "www.client.test") { done($0) } }
            #expect((try? other?.get()) == "CLIENT.TEST")
        }
    }

    /// Each broken name is classified, and refused with the rule it broke.
    @Test func brokenNamesAreRefused() throws {
        try withResolver { resolver, loop in
            let lookups = KXOverLookups(resolver: resolver)
            func realmError(_ host: String) -> KXError? {
                guard case .failure(let e)? = waitFor(loop, { done in lookups.realm(ofHost: host) { done($0) } }) else { return nil }
                return e
            }
            func kdcError(_ realm: String) -> KXError? {
                guard case .failure(let e)? = waitFor(loop, { done in lookups.kdcs(ofRealm: realm, random: SystemRandomNumberGenerator()) { done($0) } }) else { return nil }
                return e
            }
            func tlsaError(_ host: String) -> KXError? {
                guard case .failure(let e)? = waitFor(loop, { done in lookups.tlsa(ofHost: host) { done($0) } }) else { return nil }
                return e
            }
            let tampered = realmError("tampered.service.test")
            #expect(tampered?.code == .dnssecRealm)
            #expect(tampered?.detail.contains("bogus") == true, "\(String(describing: tampered))")
            let bogusSRV = kdcError("BOGUSSRV.TEST")
            #expect(bogusSRV?.code == .dnssecKDC)
            #expect(bogusSRV?.detail.contains("bogus") == true, "\(String(describing: bogusSRV))")
            let bogusTLSA = tlsaError("kdc.bogustlsa.test")
            #expect(bogusTLSA?.code == .dnssecTLSA)
            #expect(bogusTLSA?.detail.contains("bogus") == true)
            let insecureSRV = kdcError("INSECURESRV.TEST")
            #expect(insecureSRV?.code == .dnssecKDC)
            #expect(insecureSRV?.detail.contains("insecure") == true, "\(String(describing: insecureSRV))")
            let insecureTXT = realmError("host.insecure.test")
            #expect(insecureTXT?.detail.contains("insecure") == true, "\(String(describing: insecureTXT))")
            let expired = realmError("expired.test")
            #expect(expired?.detail.contains("bogus") == true, "\(String(describing: expired))")
            let noKey = kdcError("NOKEY.TEST")
            #expect(noKey?.detail.contains("bogus") == true, "\(String(describing: noKey))")
            // No TLSA at all for a host: a secure denial, still a refusal.
            let missing = tlsaError("nothing.service.test")
            #expect(missing?.code == .dnssecTLSA)
        }
    }

    /// An NXDOMAIN that cannot be authenticated is not a denial: no walk past it.
    @Test func unauthenticatedDenialIsNotTrusted() throws {
        try withResolver { resolver, loop in
            let raw = waitFor(loop) { done in resolver.query("_kerberos.nothere.insecure.test", .txt) { done($0) } }
            let answer = try #require(try raw?.get())
            #expect(answer.security == .insecure)
            #expect(!answer.isAuthenticatedDenial)
            let lookups = KXOverLookups(resolver: resolver)
            let realm = waitFor(loop) { done in lookups.realm(ofHost: "nothere.insecure.test") { done($0) } }
            guard case .failure(let error)? = realm else { Issue.record("accepted \(String(describing: realm))"); return }
            #expect(error.detail.contains("insecure"))
        }
    }

    @Test func hundredConcurrentLookupsOnOneThreadAndCancellationLeaksNothing() throws {
        try withResolver { resolver, loop in
            var answers = 0
            let thread = Thread.current
            for i in 0..<100 {
                resolver.query("h\(i).service.test", .a) { result in
                    #expect(Thread.current == thread)
                    if case .success = result { answers += 1 }
                }
            }
            #expect(resolver.liveQueries == 100)
            #expect(loop.run(until: { answers == 100 }, timeout: 10))
            #expect(resolver.liveQueries == 0)
            // Cancel 50 in flight: none of their completions may run, no context survives.
            var cancelledCalls = 0
            let queries = (0..<50).map { i in resolver.query("c\(i).client.test", .aaaa) { _ in cancelledCalls += 1 } }
            queries.forEach { $0.cancel() }
            #expect(resolver.liveQueries == 0)
            loop.run(until: { false }, timeout: 0.3)
            #expect(cancelledCalls == 0)
        }
    }

    /// A server that never answers: the query fails at its bound, not later.
    @Test func timeoutAgainstASilentServer() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = UInt16(bigEndian: address.sin_port)
        var configuration = TestZone.shared.configuration
        configuration.forwarders = ["127.0.0.1@\(port)"]
        configuration.queryTimeout = 0.5
        try withResolver(configuration) { resolver, loop in
            let started = Date()
            let result = waitFor(loop, timeout: 5) { done in resolver.query("_kerberos.service.test", .txt) { done($0) } }
            let elapsed = Date().timeIntervalSince(started)
            guard case .failure(.timeout(let seconds))? = result else { Issue.record("\(String(describing: result))"); return }
            #expect(seconds == 0.5)
            #expect(elapsed >= 0.45 && elapsed < 2, "\(elapsed)")
            #expect(resolver.liveQueries == 0)
        }
    }

    @Test func missingTrustAnchorIsAClearError() throws {
        let loop = try EventLoop()
        #expect(throws: DNSFailure.self) { try UnboundResolver(configuration: ResolverConfiguration(forwarders: ["127.0.0.1@1"]), loop: loop) }
        #expect(throws: DNSFailure.self) {
            try UnboundResolver(configuration: ResolverConfiguration(trustAnchors: ["not a record"]), loop: loop)
        }
    }
}

@Suite("kxover check-dns")
struct CheckDNSCommandTests {
    static let executable: String = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("kxover").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("kxover").path
    }()

    func checkDNS(_ target: String) throws -> (status: Int32, output: String) {
        let zone = TestZone.shared
        do {
            let output = try TestZone.run([Self.executable, "check-dns", target,
                                           "--trust-anchor", zone.env["TRUST_ANCHOR"]!, "--forward", zone.env["DNS_STUB"]!,
                                           "--unbound-option", "local-zone: test. transparent"])
            return (0, output)
        } catch DNSFailure.resolver(let message) {
            return (1, message)
        }
    }

    @Test func approvesAGoodChain() throws {
        let run = try checkDNS("svc.service.test")
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("_kerberos.svc.service.test TXT"))
        #expect(run.output.contains("_kerberos-tls._tcp.service.test SRV  secure    0 0 18088 kdc.service.test."), "\(run.output)")
        #expect(run.output.contains("_88._tcp.kdc.service.test TLSA"))
        #expect(run.output.contains("a crossover to SERVICE.TEST would proceed"))
    }

    @Test func refusesWithTheReason() throws {
        let bogus = try checkDNS("BOGUSSRV.TEST")
        #expect(bogus.status == 1)
        #expect(bogus.output.contains("BOGUS") && bogus.output.contains("REFUSED: DNSSEC_KDC"), "\(bogus.output)")
        let insecure = try checkDNS("INSECURESRV.TEST")
        #expect(insecure.status == 1)
        #expect(insecure.output.contains("INSECURE"), "\(insecure.output)")
        let tampered = try checkDNS("tampered.service.test")
        #expect(tampered.status == 1)
        #expect(tampered.output.contains("REFUSED: DNSSEC_REALM"), "\(tampered.output)")
    }
}
