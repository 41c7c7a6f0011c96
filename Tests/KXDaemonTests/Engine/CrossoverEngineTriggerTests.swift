import KXOver
import Testing
@testable import KXDaemon

/// The engine's two ways into an exchange, on virtual time with a held
/// resolver and a scripted KDB: a request held before krb5kdc sees it, and
/// krb5kdc's KRB-ERROR 7 starting an exchange in the background.
@Suite("crossover engine: triggers")
struct CrossoverEngineTriggerTests {
    @Test func aRequestForARealmWithoutAKeyIsHeldUntilItsExchangeEnds() throws {
        let bench = try EngineBench()
        var forwarded = 0
        bench.engine.requestArrived(EngineBench.tgsRequest(), client: bench.client) { forwarded += 1 }
        #expect(forwarded == 0, "held while the exchange runs")
        #expect(bench.engine.counters.triggers == 1)
        #expect(bench.engine.exchangesInFlight == 1)
        #expect(bench.resolver.pending.map(\.name) == ["_kerberos-tls._tcp.service.test"])
        bench.resolver.failAll(.resolver("SERVFAIL"))
        #expect(bench.engine.exchangesInFlight == 0)
        #expect(bench.engine.counters.clientFailed == 1)
        #expect(forwarded == 1, "after the exchange, failed or not, the request goes on")
    }

    @Test func aUsableKeyLetsTheRequestThroughAtOnce() throws {
        let bench = try EngineBench()
        bench.store.entry = .success(bench.usableKey)
        var forwarded = 0
        bench.engine.requestArrived(EngineBench.tgsRequest(), client: bench.client) { forwarded += 1 }
        #expect(forwarded == 1)
        #expect(bench.store.inspections == 1, "the KDB is read for every such request")
        #expect(bench.engine.counters.triggers == 0 && bench.engine.exchangesInFlight == 0)
        #expect(bench.resolver.queries.isEmpty)
    }

    @Test func aKeyOutsidePolicyKxoverIsNeverReplaced() throws {
        let bench = try EngineBench()
        bench.store.entry = .success(.foreign(policy: nil))
        var forwarded = 0
        bench.engine.requestArrived(EngineBench.tgsRequest(), client: bench.client) { forwarded += 1 }
        #expect(forwarded == 1 && bench.engine.exchangesInFlight == 0)
    }

    /// The KDB cannot be read (locked, kadmind away): the request goes on as
    /// it came; krb5kdc's KRB-ERROR 7 is delivered at once, never replayed
    /// (its lookaside cache would give the same answer), and an exchange
    /// starts in the background for the user's next request.
    @Test func aFailedKDBReadForwardsAndKrb5kdcsErrorStartsAnExchangeInTheBackground() throws {
        let bench = try EngineBench()
        bench.store.entry = .failure(KXError(.keyStoring, "the KDB is locked by process 4242"))
        let request = EngineBench.tgsRequest()
        var forwarded = 0
        bench.engine.requestArrived(request, client: bench.client) { forwarded += 1 }
        #expect(forwarded == 1, "not held")
        #expect(bench.engine.counters.triggers == 0 && bench.engine.exchangesInFlight == 0)

        bench.store.entry = .success(.absent)   // the lock is gone by the time krb5kdc answers
        let error = bench.principalUnknown()
        var delivered: [[UInt8]] = []
        var replays = 0
        bench.engine.backendReplied(request: request, reply: error, client: bench.client,
                                    deliver: { delivered.append($0) }, replay: { _ in replays += 1 })
        #expect(delivered == [error], "the user gets krb5kdc's answer at once")
        #expect(replays == 0)
        #expect(bench.engine.counters.triggers == 1)
        #expect(bench.engine.exchangesInFlight == 1, "the exchange runs in the background")
        #expect(bench.resolver.pending.map(\.name) == ["_kerberos-tls._tcp.service.test"])
        bench.resolver.failAll(.resolver("SERVFAIL"))
        #expect(bench.engine.exchangesInFlight == 0 && delivered.count == 1)
    }

    @Test func otherRepliesAreDeliveredWithoutAnExchange() throws {
        let bench = try EngineBench()
        let request = EngineBench.tgsRequest()
        let other = KRBError.make(code: 25, realm: EngineBench.local, now: bench.ports.now).derEncoded
        let ownRealm = EngineBench.tgsRequest(sname: ["krbtgt", EngineBench.local])
        for (request, reply) in [(request, other), (ownRealm, bench.principalUnknown()), (request, [0x6D, 0x00])] {
            var delivered: [[UInt8]] = []
            bench.engine.backendReplied(request: request, reply: reply, client: bench.client,
                                        deliver: { delivered.append($0) }, replay: { _ in Issue.record("replayed") })
            #expect(delivered == [reply])
        }
        #expect(bench.engine.counters.triggers == 0 && bench.engine.exchangesInFlight == 0)
    }

    /// A referral-style request waits for DNSSEC to name the host's realm at
    /// most 5 s, then goes on untouched; a late answer changes nothing for
    /// it, but fills the cache the hostrealm module is answered from.
    @Test func aHostTriggerWaitsForDNSAtMostFiveSeconds() throws {
        let bench = try EngineBench(hostBasedTriggers: true)
        let request = EngineBench.tgsRequest(nameType: NameType.serviceHost, sname: ["host", "svc.service.test"], canonicalize: true)
        var forwarded = 0
        bench.engine.requestArrived(request, client: bench.client) { forwarded += 1 }
        let lookup = try #require(bench.resolver.pending.first)
        #expect(lookup.name == "_kerberos.svc.service.test" && lookup.type == .txt)
        bench.ports.advance(4.9)
        #expect(forwarded == 0, "held while DNS may still answer")
        bench.ports.advance(0.1)
        #expect(forwarded == 1, "forwarded at the bound")
        #expect(!lookup.cancelled, "the request stops waiting; the lookup goes on for the KDC's module")
        #expect(bench.engine.hostRealms.cached("svc.service.test") == nil)
        lookup.completion(.failure(.timeout(seconds: 10)))
        #expect(forwarded == 1 && bench.engine.exchangesInFlight == 0 && bench.engine.counters.triggers == 0)
        // Its late answer is remembered (briefly, as a "no"), so the module's question finds it.
        if case .failure(let error)? = bench.engine.hostRealms.cached("svc.service.test") {
            #expect(error.detail.contains("_kerberos.svc.service.test TXT"))
        } else { Issue.record("the late answer was not remembered") }
    }

    @Test func aHostInNoRealmGoesOnAtOnce() throws {
        let bench = try EngineBench(hostBasedTriggers: true)
        let request = EngineBench.tgsRequest(nameType: NameType.serviceHost, sname: ["host", "svc.service.test"], canonicalize: true)
        var forwarded = 0
        bench.engine.requestArrived(request, client: bench.client) { forwarded += 1 }
        bench.resolver.failAll(.resolver("SERVFAIL"))
        #expect(forwarded == 1 && bench.engine.exchangesInFlight == 0)
        bench.ports.advance(10)
        #expect(forwarded == 1, "the bound's timer was cancelled")
    }
}
