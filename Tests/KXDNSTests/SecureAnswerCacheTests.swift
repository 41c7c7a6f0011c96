import Foundation
import Testing
import KXDNS
import KXEventLoop
import KXOver

/// The exchange's answer cache over the real validating resolver and the
/// signed test zone: Secure answers come back from memory, never for longer
/// than their TTL; Bogus and Insecure ones are asked again every time.
@Suite("Secure answer cache against the signed test zone")
struct SecureAnswerCacheTests {
    @Test func secureAnswersAreKeptForTheirTTLOthersNever() throws {
        try withResolver { resolver, loop in
            let clock = Mutex<Double>(1000)
            let cache = SecureAnswerCache(upstream: resolver, loop: loop, rule: .exchangeRecords, now: { clock.withLock { $0 } })
            func ask(_ name: String, _ type: DNSRecordType) throws -> DNSAnswer {
                try #require(try waitFor(loop) { done in cache.query(name, type) { done($0) } }?.get())
            }
            let srv = "_kerberos-tls._tcp.service.test"
            let first = try ask(srv, .srv)
            #expect(first.security == .secure && !first.rdata.isEmpty)
            #expect((1...300).contains(first.ttl), "the zone's TTL is 300 s: \(first.ttl)")
            #expect(try ask(srv.uppercased() + ".", .srv) == first)
            #expect(cache.hits == 1 && cache.count == 1)
            // Past the TTL the validator is asked again.
            clock.withLock { $0 += Double(first.ttl) + 1 }
            #expect(try ask(srv, .srv).rdata == first.rdata)
            #expect(cache.hits == 1)
            // A secure denial (no TLSA for this host) is an answer too.
            #expect(try ask("_88._tcp.nothing.service.test", .tlsa).isAuthenticatedDenial)
            #expect(try ask("_88._tcp.nothing.service.test", .tlsa).isAuthenticatedDenial)
            #expect(cache.hits == 2)
            // Bogus and insecure answers are never kept: each ask goes to the validator.
            for (name, type) in [("_88._tcp.kdc.bogustlsa.test", DNSRecordType.tlsa), ("_kerberos-tls._tcp.insecuresrv.test", .srv)] {
                let once = try ask(name, type)
                let twice = try ask(name, type)
                #expect(once.security != .secure && twice.security == once.security, "\(name): \(once.security)")
            }
            #expect(cache.hits == 2 && cache.count == 2)
            // TXT is not this rule's: host realms have their own lifetime.
            _ = try ask("_kerberos.svc.service.test", .txt)
            _ = try ask("_kerberos.svc.service.test", .txt)
            #expect(cache.hits == 2)
        }
    }
}
