import Testing
import KXOver

/// Stage transcripts of both records, driven against each other through
/// scripted fakes: the happy path and every failure exit of spec §8.2/§8.3.
final class CrossoverHarness {
    let world = FakeWorld()
    lazy var resolver = FakeResolver(world: world)
    lazy var clientStore = FakeKeyStore(world: world, name: "CLIENT.TEST")
    lazy var serverStore = FakeKeyStore(world: world, name: "SERVICE.TEST")
    lazy var pair = FakeSessionPair(world: world)
    lazy var dialer = FakeDialer(world: world) { [unowned self] in FakeConnection(world: world, session: pair.client) }
    var clientPolicy = LocalRealmPolicy(realm: "CLIENT.TEST", kdcHost: "kdc.client.test", etypes: [17, 18, 19, 20])
    var serverPolicy = LocalRealmPolicy(realm: "SERVICE.TEST", kdcHost: "kdc.service.test", etypes: [18, 20, 26])
    var server: ServerCrossover?
    var serverResult: Result<ServerCrossover.Success, KXError>?
    var clientResult: Result<ClientCrossover.Success, KXError>?
    var clientCompletions = 0
    var log: [CrossoverEvent] = []

    init() {
        resolver.set("_kerberos.svc.service.test", .txt, [FakeResolver.txt("SERVICE.TEST")])
        resolver.set("_kerberos-tls._tcp.service.test", .srv, [FakeResolver.srv(0, 18088, "kdc.service.test")])
        resolver.set("kdc.service.test", .aaaa, [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]])
        resolver.set("kdc.service.test", .a, [[127, 0, 0, 1]])
        resolver.set("_kerberos-tls._tcp.client.test", .srv, [FakeResolver.srv(0, 17088, "kdc.client.test")])
        pair.client.other = pair.server
        pair.server.other = pair.client
        // The server record starts when the first KX-REQ arrives, as the front end will do.
        pair.server.onFirstMessage = { [unowned self] frame in
            let lookups = KXOverLookups(resolver: resolver)
            let record = ServerCrossover(id: "s1", frame: frame, session: pair.server, locals: [serverPolicy],
                                         ports: .init(lookups: lookups, keyStores: ["SERVICE.TEST": serverStore], clock: world, random: world, timers: world),
                                         log: { [unowned self] in log.append($0) }) { [unowned self] in serverResult = $0 }
            server = record
            record.start()
        }
    }

    /// The peers of these tests live on loopback, allowed as the test worlds allow it.
    var addressPolicy = PeerAddressPolicy(allowed: [.loopback])

    func client(_ target: String = "SERVICE.TEST", knownEntry: KeyStoreEntry? = nil) -> ClientCrossover {
        let ports = ClientCrossover.Ports(lookups: KXOverLookups(resolver: resolver), dialer: dialer, keyStore: clientStore,
                                          clock: world, random: world, timers: world)
        return ClientCrossover(id: "c1", local: clientPolicy, serviceRealm: target, ports: ports, knownEntry: knownEntry,
                               addressPolicy: addressPolicy, log: { [unowned self] in log.append($0) }) {
            [unowned self] in
            clientResult = $0
            clientCompletions += 1
        }
    }

    @discardableResult
    func run(_ target: String = "SERVICE.TEST", advance: Double = 0, knownEntry: KeyStoreEntry? = nil) -> ClientCrossover {
        let record = client(target, knownEntry: knownEntry)
        record.start()
        world.settle()
        if advance > 0 { world.advance(advance) }
        return record
    }

    var clientError: KXError? { if case .failure(let e)? = clientResult { return e } else { return nil } }
    var serverError: KXError? { if case .failure(let e)? = serverResult { return e } else { return nil } }
}

typealias C = ClientCrossover.Stage
typealias S = ServerCrossover.Stage

@Suite("crossover records")
struct CrossoverTests {
    static let clientHappy: [C] = [.initialised, .localKeyCheck, .kdcLookup, .addressLookup, .connecting, .startTLS, .handshake,
                                   .realmsCheck, .sending, .receiving, .deriving, .storing, .finished]
    static let serverHappy: [S] = [.initialised, .received, .realmsCheck, .kdcLookup, .hostCheck, .keyState, .deriving, .storing,
                                   .sending, .finished]

    @Test func happyPathStoresIdenticalKeysOnBothSides() throws {
        let h = CrossoverHarness()
        let client = h.run()
        #expect(client.transcript == Self.clientHappy)
        #expect(h.server?.transcript == Self.serverHappy)
        let success = try #require(try h.clientResult?.get())
        #expect(success.serviceRealm == "SERVICE.TEST")
        #expect(success.etypes == [18, 20])
        #expect(KvnoPolicy.components(of: success.kvno) != nil)
        #expect(h.clientCompletions == 1)
        // Same principal, kvno, etypes and bytes in both stores; the server stored before it sent KX-REP.
        let c = try #require(h.clientStore.stored.first), s = try #require(h.serverStore.stored.first)
        #expect(c.principal == .crossover(client: "CLIENT.TEST", service: "SERVICE.TEST"))
        #expect(c.principal == s.principal && c.kvno == s.kvno && c.etypes == s.etypes && c.bytes == s.bytes)
        #expect(c.bytes.count == 64)
        let storeIndex = try #require(h.world.events.firstIndex(of: "store SERVICE.TEST kvno \(s.kvno)"))
        let sendIndex = try #require(h.world.events.firstIndex(of: "server sends KX-REP"))
        #expect(storeIndex < sendIndex)
        #expect(h.dialer.connections.allSatisfy { $0.closed })
        // The log never carries key bytes: no event mentions the material's hex.
        #expect(!h.log.contains { $0.detail.contains(Hex.string(c.bytes.prefix(8))) })
    }

    /// The trigger read the KDB moments ago: the exchange starts from that
    /// read instead of reading again (one KDB read per held request).
    @Test func aReadFromTheTriggerIsNotRepeated() {
        let h = CrossoverHarness()
        let client = h.run(knownEntry: .absent)
        #expect(client.transcript == Self.clientHappy)
        #expect(h.clientStore.inspected.isEmpty, "\(h.clientStore.inspected)")
        let fresh = CrossoverHarness()
        _ = fresh.run()
        #expect(fresh.clientStore.inspected.count == 1)
    }

    /// A port that answers twice (or out of turn) fails the exchange at once,
    /// loudly, instead of leaving it to hang until the overall deadline.
    @Test func aStrayEventFailsTheExchangeLoudly() {
        final class AnswersTwice: KeyStore {
            func inspect(_ principal: Principal, completion: @escaping (Result<KeyStoreEntry, KXError>) -> Void) {
                completion(.success(.absent))
                completion(.success(.absent))
            }
            func store(_ write: CrossoverKeyWrite, completion: @escaping (Result<KeyWriteOutcome, KXError>) -> Void) {}
        }
        let h = CrossoverHarness()
        let store = AnswersTwice()
        let ports = ClientCrossover.Ports(lookups: KXOverLookups(resolver: h.resolver), dialer: h.dialer, keyStore: store,
                                          clock: h.world, random: h.world, timers: h.world)
        var result: Result<ClientCrossover.Success, KXError>?
        var completions = 0
        let client = ClientCrossover(id: "c1", local: h.clientPolicy, serviceRealm: "SERVICE.TEST", ports: ports,
                                     addressPolicy: h.addressPolicy) {
            result = $0
            completions += 1
        }
        client.start()
        h.world.settle()
        #expect(client.transcript == [.initialised, .localKeyCheck, .kdcLookup, .failed])
        #expect(client.failedStage == .kdcLookup)
        if case .failure(let error)? = result {
            #expect(error.code == .errorEvent)
            #expect(error.detail.contains("the local key's state arrived in stage C2 DNSSEC KDC"), "\(error)")
        } else {
            Issue.record("no failure: \(String(describing: result))")
        }
        #expect(completions == 1)
    }

    // MARK: client failure exits

    func expectClientFailure(_ h: CrossoverHarness, _ client: ClientCrossover, at stage: C, _ code: KXError.Code,
                             sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(client.transcript.suffix(2) == [stage, .failed], "\(client.transcript)", sourceLocation: sourceLocation)
        #expect(h.clientError?.code == code, "\(String(describing: h.clientError))", sourceLocation: sourceLocation)
        #expect(h.clientStore.stored.isEmpty, sourceLocation: sourceLocation)
        #expect(h.clientCompletions == 1, sourceLocation: sourceLocation)
        #expect(h.dialer.connections.allSatisfy { $0.closed }, sourceLocation: sourceLocation)
    }

    @Test func foreignLocalPrincipalStopsBeforeTheNetwork() {
        let h = CrossoverHarness()
        h.clientStore.entries[.crossover(client: "CLIENT.TEST", service: "SERVICE.TEST")] = .foreign(policy: nil)
        expectClientFailure(h, h.run(), at: .localKeyCheck, .keyStoring)
        #expect(h.dialer.connections.isEmpty)
    }

    @Test func kdcLookupFailure() {
        let h = CrossoverHarness()
        h.resolver.set("_kerberos-tls._tcp.service.test", .srv, .insecure, [FakeResolver.srv(0, 88, "kdc.service.test")])
        expectClientFailure(h, h.run(), at: .kdcLookup, .dnssecKDC)
    }

    @Test func everyAddressOfEveryTargetIsTriedBeforeConnectFails() {
        let h = CrossoverHarness()
        h.resolver.set("_kerberos-tls._tcp.service.test", .srv, [FakeResolver.srv(0, 18088, "kdc.service.test"), FakeResolver.srv(1, 18089, "kdc2.service.test")])
        h.resolver.set("kdc2.service.test", .a, [[127, 0, 0, 2]])
        h.dialer.refuse = ["::1", "127.0.0.1", "127.0.0.2"]
        let client = h.run()
        #expect(h.world.events.filter { $0.hasPrefix("connect") } == ["connect ::1:18088", "connect 127.0.0.1:18088", "connect 127.0.0.2:18089"])
        #expect(client.transcript.filter { $0 == .connecting }.count == 3)
        expectClientFailure(h, client, at: .connecting, .connect)
        // A refused first address falls through to the next one.
        let g = CrossoverHarness()
        g.dialer.refuse = ["::1"]
        #expect(g.run().transcript.last == .finished)
    }

    /// A trigger needs no authentication and the SRV target is the remote
    /// zone's choice: special addresses are never connected to unless allowed.
    @Test func forbiddenAddressesAreNeverConnectedTo() {
        let h = CrossoverHarness()
        h.addressPolicy = PeerAddressPolicy()
        let client = h.run()
        #expect(h.world.events.filter { $0.hasPrefix("connect") }.isEmpty)
        #expect(!client.transcript.contains(.connecting))
        expectClientFailure(h, client, at: .addressLookup, .connect)
        #expect(h.clientError?.detail.contains("refused to connect to kdc.service.test [127.0.0.1]:18088: 127.0.0.1 is a loopback address (peer_address_allow does not name loopback)") == true,
                "\(String(describing: h.clientError))")
        #expect(h.clientStore.stored.isEmpty && h.serverStore.stored.isEmpty)
        // Metadata, private and link-local targets likewise; a public address beside them is tried.
        let g = CrossoverHarness()
        g.addressPolicy = PeerAddressPolicy()
        g.resolver.set("kdc.service.test", .aaaa, [[0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]])
        g.resolver.set("kdc.service.test", .a, [[169, 254, 169, 254], [10, 1, 2, 3], [192, 0, 2, 1]])
        g.dialer.refuse = ["192.0.2.1"]
        _ = g.run()
        #expect(g.world.events.filter { $0.hasPrefix("connect") } == ["connect 192.0.2.1:18088"])
    }

    /// At most four SRV targets are looked up and six addresses connected to per exchange.
    @Test func targetsAndAddressesTriedPerExchangeAreCapped() {
        let h = CrossoverHarness()
        h.resolver.set("_kerberos-tls._tcp.service.test", .srv, (0..<6).map { FakeResolver.srv(UInt16($0), 18088, "kdc\($0).service.test") })
        for n in 0..<6 {
            h.resolver.set("kdc\(n).service.test", .aaaa, [])
            h.resolver.set("kdc\(n).service.test", .a, [[127, 0, 1, UInt8(n)], [127, 0, 2, UInt8(n)]])
        }
        h.dialer.refuse = Set((0..<6).flatMap { ["127.0.1.\($0)", "127.0.2.\($0)"] })
        let client = h.run()
        #expect(h.world.events.filter { $0.hasPrefix("connect") }.count == PeerAddressPolicy.maximumAddresses)
        #expect(client.transcript.filter { $0 == .connecting }.count == 6)
        #expect(!h.resolver.asked.contains { $0.contains("kdc4.") || $0.contains("kdc5.") }, "targets beyond the fourth are never looked up")
        expectClientFailure(h, client, at: .connecting, .connect)
        #expect(h.clientError?.detail.contains("after 6 addresses") == true, "\(String(describing: h.clientError))")
    }

    @Test func bogusAddressesAreFatal() {
        let h = CrossoverHarness()
        h.resolver.set("kdc.service.test", .a, .bogus(reason: "forged"), [[127, 0, 0, 1]])
        expectClientFailure(h, h.run(), at: .addressLookup, .dnsError)
    }

    @Test func startTLSRefusalEndsTheAttempt() {
        let h = CrossoverHarness()
        h.dialer.makeConnection = { [unowned h] in
            let c = FakeConnection(world: h.world, session: h.pair.client)
            c.startTLSFailure = KXError(.sizeError, "KDC answered STARTTLS with KRB-ERROR 61")
            return c
        }
        expectClientFailure(h, h.run(), at: .startTLS, .sizeError)
    }

    @Test func handshakeFailureEndsTheAttempt() {
        let h = CrossoverHarness()
        h.dialer.makeConnection = { [unowned h] in
            let c = FakeConnection(world: h.world, session: h.pair.client)
            c.handshakeFailure = KXError(.tls, "DANE: certificate does not match TLSA")
            return c
        }
        expectClientFailure(h, h.run(), at: .handshake, .tls)
    }

    @Test func realmsCheckFailure() {
        let h = CrossoverHarness()
        h.pair.client.realmCheckFailure = KXError(.realmsCheck, "peer certificate lacks krbtgt/SERVICE.TEST@SERVICE.TEST")
        expectClientFailure(h, h.run(), at: .realmsCheck, .realmsCheck)
    }

    @Test func sendFailure() {
        let h = CrossoverHarness()
        h.pair.client.sendFailure = KXError(.disconnected, "peer closed")
        expectClientFailure(h, h.run(), at: .sending, .disconnected)
    }

    @Test func silentServerTimesOutWaitingForTheReply() {
        let h = CrossoverHarness()
        h.pair.server.onFirstMessage = { _ in }   // swallow the KX-REQ
        let client = h.run(advance: 11)
        expectClientFailure(h, client, at: .receiving, .timeout)
    }

    /// Stage events carry their timing (the Timers port's clock): each names
    /// the stage it ended and how long that took, and the failing stage's
    /// time is the bound it waited out.
    @Test func stageEventsCarryTheirDurations() {
        let h = CrossoverHarness()
        h.pair.server.onFirstMessage = { _ in }   // swallow the KX-REQ
        _ = h.run(advance: 11)
        let client = h.log.filter { $0.exchange == "c1" }
        guard let failed = client.last, client.count > 2 else { Issue.record("no events: \(h.log)"); return }
        #expect(failed.outcome == .failed(.timeout))
        #expect(failed.stage == .client(.receiving))
        #expect(failed.ended == .init(stage: .client(.receiving), seconds: CrossoverTimeouts.client.reply))
        #expect(failed.elapsed == CrossoverTimeouts.client.reply)
        // The first event ends no stage; each later one ends the stage the one before it entered.
        #expect(client[0].ended == nil)
        for (before, event) in zip(client, client.dropFirst()) {
            #expect(event.ended?.stage == before.stage, "\(event)")
        }
        #expect(client.dropLast().allSatisfy { $0.ended?.seconds ?? 0 == 0 && $0.elapsed == 0 })
        #expect(failed.stage.side == .client && failed.stage.number == "C9" && failed.stage.name == "C9 KX-REP")
    }

    @Test func forgedReplyFailsTheMergeChecks() {
        let h = CrossoverHarness()
        h.pair.server.onFirstMessage = { [unowned h] frame in
            var reply = try! KXMessage(derEncoded: frame).offer
            reply.myName = .kdc(of: "SERVICE.TEST")
            reply.requestTime = reply.requestTime.adding(seconds: 1)
            h.pair.server.send(KXMessage(kind: .reply, offer: reply).derEncoded) { _ in }
        }
        expectClientFailure(h, h.run(), at: .receiving, .mergeTiming)
    }

    @Test func exporterFailure() {
        let h = CrossoverHarness()
        h.pair.client.exportFailure = KXError(.tls, "PRNG: ctlkey not found")
        expectClientFailure(h, h.run(), at: .deriving, .tls)
    }

    @Test func keyStoreFailure() {
        let h = CrossoverHarness()
        h.clientStore.failure = KXError(.keyStoring, "KDB locked")
        let client = h.run()
        #expect(client.transcript.suffix(2) == [.storing, .failed])
        #expect(h.clientError?.code == .keyStoring)
        // The server side did store: a one-sided key, which expires (spec §8.3).
        #expect(h.serverStore.stored.count == 1)
    }

    @Test func overallDeadline() {
        let h = CrossoverHarness()
        h.dialer.makeConnection = { [unowned h] in FakeConnection(world: h.world, session: h.pair.client) }
        h.pair.server.onFirstMessage = { _ in }
        let client = h.client()
        client.start()
        h.world.advance(31)
        #expect(h.clientError?.code == .timeout)
        #expect(h.clientCompletions == 1)
    }

    @Test func cancelReportsOnceAndClosesTheConnection() {
        let h = CrossoverHarness()
        h.pair.server.onFirstMessage = { _ in }
        let client = h.client()
        client.start()
        h.world.settle()
        #expect(client.stage == .receiving)
        client.cancel()
        client.cancel()
        h.world.advance(60)
        #expect(h.clientError?.code == .cancelled)
        #expect(h.clientCompletions == 1)
        #expect(h.dialer.connections.allSatisfy { $0.closed })
    }

    // MARK: server failure exits

    func serverRun(_ h: CrossoverHarness, frame: [UInt8]) -> ServerCrossover {
        h.pair.server.onFirstMessage?(frame)
        h.world.settle()
        return h.server!
    }

    func request(_ h: CrossoverHarness, _ mutate: (inout KXOffer) -> Void = { _ in }) -> [UInt8] {
        var offer = OfferBuilder.request(clientRealm: "CLIENT.TEST", serviceRealm: "SERVICE.TEST", now: h.world.now,
                                         salt: Array(repeating: 1, count: 32), kvno: 31_280, etypes: [17, 18, 19, 20])
        mutate(&offer)
        return KXMessage(kind: .request, offer: offer).derEncoded
    }

    func expectServerFailure(_ h: CrossoverHarness, _ server: ServerCrossover, at stage: S, _ code: KXError.Code,
                             sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(server.transcript.suffix(2) == [stage, .failed], "\(server.transcript)", sourceLocation: sourceLocation)
        #expect(h.serverError?.code == code, "\(String(describing: h.serverError))", sourceLocation: sourceLocation)
        #expect(!h.world.events.contains("server sends KX-REP"), sourceLocation: sourceLocation)
    }

    @Test func serverHappyPathAlone() {
        let h = CrossoverHarness()
        let server = serverRun(h, frame: request(h))
        #expect(server.transcript == Self.serverHappy)
        #expect(h.serverStore.stored.count == 1)
    }

    @Test func malformedRequest() {
        let h = CrossoverHarness()
        var frame = request(h)
        frame[12] = 4
        expectServerFailure(h, serverRun(h, frame: frame), at: .received, .transport)
        let g = CrossoverHarness()
        expectServerFailure(g, serverRun(g, frame: KXMessage(kind: .reply, offer: try! KXMessage(derEncoded: request(g)).offer).derEncoded),
                            at: .received, .transport)
    }

    @Test func staleRequestIsRefused() {
        let h = CrossoverHarness()
        let frame = request(h) { $0.requestTime = $0.requestTime.adding(seconds: -400); $0.from = $0.requestTime }
        expectServerFailure(h, serverRun(h, frame: frame), at: .received, .offerTiming)
    }

    @Test func realmWeDoNotServe() {
        let h = CrossoverHarness()
        let frame = request(h) { $0.kxName = .crossover(client: "CLIENT.TEST", service: "OTHER.TEST") }
        expectServerFailure(h, serverRun(h, frame: frame), at: .received, .realmsCheck)
    }

    @Test func serverRealmsCheckFailure() {
        let h = CrossoverHarness()
        h.pair.server.realmCheckFailure = KXError(.realmsCheck, "client certificate names another realm")
        expectServerFailure(h, serverRun(h, frame: request(h)), at: .realmsCheck, .realmsCheck)
    }

    @Test func clientRealmSRVMustBeSecure() {
        let h = CrossoverHarness()
        h.resolver.set("_kerberos-tls._tcp.client.test", .srv, .bogus(reason: "forged"), [FakeResolver.srv(0, 88, "kdc.client.test")])
        expectServerFailure(h, serverRun(h, frame: request(h)), at: .kdcLookup, .dnssecKDC)
    }

    @Test func certifiedHostMustBeAClientRealmKDC() {
        let h = CrossoverHarness()
        h.pair.server.peerHost = "evil.example.test"
        expectServerFailure(h, serverRun(h, frame: request(h)), at: .hostCheck, .hostCheck)
    }

    @Test func foreignServicePrincipalIsNeverTouched() {
        let h = CrossoverHarness()
        h.serverStore.entries[.crossover(client: "CLIENT.TEST", service: "SERVICE.TEST")] = .foreign(policy: "default")
        expectServerFailure(h, serverRun(h, frame: request(h)), at: .keyState, .keyStoring)
        #expect(h.serverStore.stored.isEmpty)
    }

    @Test func rateLimitAfterARecentKey() {
        let h = CrossoverHarness()
        let today = KvnoPolicy.next(now: h.world.now, existing: [])!
        h.serverStore.entries[.crossover(client: "CLIENT.TEST", service: "SERVICE.TEST")] = .managed(ManagedKeySet(
            principal: .crossover(client: "CLIENT.TEST", service: "SERVICE.TEST"),
            versions: [.init(kvno: today, etypes: [18], from: h.world.now.adding(seconds: -3), till: h.world.now.adding(seconds: 86_400))]))
        expectServerFailure(h, serverRun(h, frame: request(h)), at: .keyState, .rateLimited)
    }

    @Test func noSharedEtype() {
        let h = CrossoverHarness()
        let frame = request(h) { $0.etypes = [17, 19] }
        expectServerFailure(h, serverRun(h, frame: frame), at: .keyState, .offerEtypes)
    }

    @Test func serverStoreFailureSendsNoKXREP() {
        let h = CrossoverHarness()
        h.serverStore.failure = KXError(.keyStoring, "KDB locked")
        expectServerFailure(h, serverRun(h, frame: request(h)), at: .storing, .keyStoring)
    }

    @Test func serverExporterFailure() {
        let h = CrossoverHarness()
        h.pair.server.exportFailure = KXError(.tls, "exporter unavailable")
        expectServerFailure(h, serverRun(h, frame: request(h)), at: .deriving, .tls)
        #expect(h.serverStore.stored.isEmpty)
    }
}
