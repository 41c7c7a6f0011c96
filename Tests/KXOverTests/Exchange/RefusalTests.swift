import Testing
import KXOver

/// Refusals told to the peer: the KRB-ERROR a service KDC sends in place of
/// KX-REP (or of the STARTTLS accept word), and how a client reads it.
@Suite("refusals on the wire")
struct RefusalTests {
    static let now = try! KerberosTime("20261128120000Z")

    @Test func aRefusalIsAKRBError60WithTheCodeInItsEText() throws {
        let frame = Refusal.frame(.hostCheck, "kdc.a.test is not a _kerberos-tls._tcp target of A.TEST", realm: "B.TEST", now: Self.now)
        let length = Int(frame[0]) << 24 | Int(frame[1]) << 16 | Int(frame[2]) << 8 | Int(frame[3])
        #expect(length == frame.count - 4 && frame[4] == KRBError.applicationTag)
        let error = try KRBError(derEncoded: Array(frame[4...]))
        #expect(error.errorCode == KerberosErrorCode.generic)
        #expect(error.eText == "HOSTCHECK: kdc.a.test is not a _kerberos-tls._tcp target of A.TEST")
        #expect(error.realm == "B.TEST" && error.sname == .krbtgt("B.TEST") && error.stime == Self.now)
        #expect(error.eData == nil && error.cname == nil)
    }

    @Test func theClientMapsTheCodeBackAndNamesThePeer() throws {
        let sent = Refusal.krbError(.keyStoring, "the service KDC could not store the key", realm: "B.TEST", now: Self.now)
        let error = Refusal.received(try KRBError(derEncoded: sent.derEncoded), from: "kdc.b.test")
        #expect(error.code == .keyStoring && error.refusedBy == "kdc.b.test")
        #expect(error.description == "refused by kdc.b.test: KEY_STORING: the service KDC could not store the key")
    }

    @Test func unknownCodesAndOtherErrorsAreGeneric() {
        func received(_ code: Int32, _ text: String?) -> KXError {
            Refusal.received(KRBError.make(code: code, realm: "B.TEST", now: Self.now, text: text), from: "kdc.b.test")
        }
        #expect(received(60, "FROBNICATE: no idea") == KXError(.refused, "FROBNICATE: no idea", refusedBy: "kdc.b.test"))
        #expect(received(60, "just words") == KXError(.refused, "just words", refusedBy: "kdc.b.test"))
        #expect(received(60, nil).code == .refused)
        #expect(received(60, "TIMEOUT:").detail == "no reason given")
        // A legacy KDC's answer to the STARTTLS word (spec §3.2), and anything else.
        #expect(received(61, nil) == KXError(.sizeError, "STARTTLS not supported (KRB-ERROR 61)", refusedBy: "kdc.b.test"))
        #expect(received(25, "pre-auth") == KXError(.refused, "KRB-ERROR 25: pre-auth", refusedBy: "kdc.b.test"))
    }

    @Test func peerTextIsPrintableASCIIAndBounded() throws {
        // Latin-1 and control bytes in a GeneralString: decoded leniently, then sanitised.
        let text = Array("HOSTCHECK: \u{1B}[31mred\u{7}".utf8) + [0xE9, 0x0A] + Array(repeating: UInt8(ascii: "a"), count: 400)
        let hostile = KRBError.make(code: 60, realm: "B.TEST", now: Self.now, text: String(decoding: text, as: UTF8.self)).derEncoded
        let error = Refusal.received(try KRBError(derEncoded: hostile), from: "kdc.b.test")
        #expect(error.code == .hostCheck)
        #expect(error.detail.hasPrefix("?[31mred??"))
        #expect(error.detail.utf8.allSatisfy { (0x20...0x7E).contains($0) })
        #expect(error.detail.hasSuffix("...") && error.detail.count <= Refusal.maximumTextLength)
        #expect(Refusal.sanitised(String(repeating: "b", count: 200)) == String(repeating: "b", count: 200))
        #expect(Refusal.sanitised(String(repeating: "b", count: 201)).count == 200)
    }

    @Test func whatWeSendIsBoundedToo() throws {
        let long = Refusal.krbError(.hostCheck, String(repeating: "é", count: 300), realm: "B.TEST", now: Self.now)
        let text = try #require(long.eText)
        #expect(text.count == Refusal.maximumTextLength && text.hasPrefix("HOSTCHECK: ???") && text.hasSuffix("..."))
    }

    @Test func publicReasonsNeverCarryTheLocalDetail() {
        for code in KXError.Code.allCases {
            let reason = Refusal.publicReason(code)
            #expect(!reason.isEmpty && reason.utf8.allSatisfy { (0x20...0x7E).contains($0) }, "\(code)")
        }
        #expect(Refusal.publicReason(.keyStoring) == "the service KDC could not store the key")
    }

    /// The legacy refusal path of the STARTTLS word (spec §3.3): the reply
    /// reader hands over the KRB-ERROR, split across reads.
    @Test func aRefusedSTARTTLSWordCarriesTheCode() throws {
        let frame = Refusal.frame(.rateLimited, "too many new exchanges; try again later", realm: "B.TEST", now: Self.now)
        var reader = StartTLSReplyReader()
        #expect(reader.append(frame.prefix(3)) == nil)
        #expect(reader.append(frame[3..<10]) == nil)
        guard case .refused(let error?) = reader.append(frame[10...]) else { Issue.record("not a refusal"); return }
        #expect(Refusal.received(error, from: "kdc.b.test").description
                == "refused by kdc.b.test: RATE_LIMITED: too many new exchanges; try again later")
    }
}

/// The records on both sides: what the service record tells, what the
/// client record reports, and that the telling never outlives its bounds.
@Suite("refusals between the records")
struct RefusalRecordTests {
    func toldText(_ h: CrossoverHarness) throws -> String? {
        guard let sent = h.pair.server.sent.last(where: { $0.first == KRBError.applicationTag }) else { return nil }
        return try KRBError(derEncoded: sent).eText
    }

    @Test func hostCheckIsToldToTheClientInPlaceOfKXREP() throws {
        let h = CrossoverHarness()
        h.pair.server.peerHost = "kdc.other.test"   // the host the client certificate names
        let client = h.run()
        #expect(client.transcript.suffix(2) == [.receiving, .failed])
        let error = try #require(h.clientError)
        #expect(error.code == .hostCheck && error.refusedBy == "kdc.service.test")
        #expect(error.description == "refused by kdc.service.test: HOSTCHECK: kdc.other.test is not a _kerberos-tls._tcp target of CLIENT.TEST")
        #expect(h.server?.told == KXError(.hostCheck, "kdc.other.test is not a _kerberos-tls._tcp target of CLIENT.TEST"))
        #expect(h.serverError?.code == .hostCheck && h.serverError?.refusedBy == nil)
        #expect(h.world.events.contains("server sends KRB-ERROR") && !h.world.events.contains("server sends KX-REP"))
        #expect(h.clientStore.stored.isEmpty && h.serverStore.stored.isEmpty)
        #expect(h.clientCompletions == 1 && h.dialer.connections.allSatisfy { $0.closed })
    }

    /// The service realm's policy refuses the client realm at S1, before any
    /// DNS or key work: the client hears POLICY and why, nothing is written.
    @Test func thePeerPolicyRefusesAtKXREQAndTellsTheClient() throws {
        let h = CrossoverHarness()
        h.serverPolicy.peers = PeerPolicy(denied: [RealmPattern("*.TEST")!])
        h.run()
        #expect(h.serverError?.code == .policy)
        #expect(h.serverError?.detail == "SERVICE.TEST accepts no crossover from CLIENT.TEST: peers_denied *.TEST")
        #expect(try toldText(h) == "POLICY: SERVICE.TEST does not accept crossovers from CLIENT.TEST")
        #expect(h.clientError == KXError(.policy, "SERVICE.TEST does not accept crossovers from CLIENT.TEST", refusedBy: "kdc.service.test"))
        #expect(h.server?.transcript.contains(.realmsCheck) == false, "refused before the realm checks")
        #expect(h.clientStore.stored.isEmpty && h.serverStore.stored.isEmpty)
        #expect(h.serverStore.inspected.isEmpty)
    }

    /// Our own policy refuses an outgoing crossover before anything is read or sent.
    @Test func theOutgoingPolicyRefusesBeforeAnyWork() {
        let h = CrossoverHarness()
        h.clientPolicy.peers = PeerPolicy(outgoing: false)
        h.run()
        #expect(h.clientError == KXError(.policy, "CLIENT.TEST starts no crossover to SERVICE.TEST: outgoing = false"))
        #expect(h.dialer.connections.isEmpty && h.world.events.isEmpty)
        #expect(h.clientStore.inspected.isEmpty)
    }

    @Test func noSharedEtypeIsTold() {
        let h = CrossoverHarness()
        h.clientPolicy = LocalRealmPolicy(realm: "CLIENT.TEST", kdcHost: "kdc.client.test", etypes: [17, 19])
        h.run()
        #expect(h.clientError == KXError(.offerEtypes, "no etype in common with the service KDC", refusedBy: "kdc.service.test"))
    }

    @Test func keyStoringTellsNothingOfTheLocalCause() throws {
        let h = CrossoverHarness()
        h.serverStore.failure = KXError(.keyStoring, "KDB /var/lib/krb5kdc/principal locked by process 4242 (kadm5 error -1765328188)")
        h.run()
        #expect(try toldText(h) == "KEY_STORING: the service KDC could not store the key")
        #expect(h.clientError?.description == "refused by kdc.service.test: KEY_STORING: the service KDC could not store the key")
        #expect(h.serverError?.detail.contains("locked by process 4242") == true)   // the local log keeps it
    }

    @Test func rateLimitTellsWhenToRetry() throws {
        let h = CrossoverHarness()
        let today = KvnoPolicy.next(now: h.world.now, existing: [])!
        let principal = Principal.crossover(client: "CLIENT.TEST", service: "SERVICE.TEST")
        h.serverStore.entries[principal] = .managed(ManagedKeySet(principal: principal, versions: [
            .init(kvno: today, etypes: [18], from: h.world.now.adding(seconds: -3), till: h.world.now.adding(seconds: 86_400))]))
        h.run()
        let wait = KvnoPolicy.backoffSeconds(afterSerial: KvnoPolicy.components(of: today)!.serial) - 3
        #expect(h.clientError?.code == .rateLimited)
        #expect(try toldText(h) == "RATE_LIMITED: a key for this realm pair was made recently; retry in \(wait) s")
    }

    @Test func malformedRequestIsToldWithTheGenericReason() throws {
        let h = CrossoverHarness()
        var frame = KXMessage(kind: .request, offer: OfferBuilder.request(
            clientRealm: "CLIENT.TEST", serviceRealm: "SERVICE.TEST", now: h.world.now, salt: [], kvno: 1, etypes: [18])).derEncoded
        frame[12] = 4
        h.pair.server.onFirstMessage?(frame)
        h.world.settle()
        #expect(h.serverError?.code == .transport)
        #expect(try toldText(h) == "TRANSPORT: malformed KX message")
        #expect(try KRBError(derEncoded: h.pair.server.sent.last!).realm == "SERVICE.TEST")
    }

    @Test func theServerReportsOnlyOnceTheRefusalIsOut() {
        let h = CrossoverHarness()
        h.pair.server.peerHost = "kdc.other.test"
        h.pair.server.holdingSends = true
        h.run()
        #expect(h.server?.stage == .failed && h.serverResult == nil && h.server?.isDone == false)
        h.pair.server.releaseSends()
        h.world.settle()
        #expect(h.serverError?.code == .hostCheck && h.server?.isDone == true)
    }

    @Test func aRefusalThatCannotBeSentEndsAtTheReplyTimeout() {
        let h = CrossoverHarness()
        h.pair.server.peerHost = "kdc.other.test"
        h.pair.server.holdingSends = true
        h.run()
        h.world.advance(9)
        #expect(h.serverResult == nil)
        h.world.advance(2)
        #expect(h.serverError?.code == .hostCheck)
        h.pair.server.releaseSends()   // a late send completion reports nothing more
        h.world.settle()
        #expect(h.serverError?.code == .hostCheck)
    }

    @Test func cancellingWhileTellingReportsTheRefusalOnce() {
        let h = CrossoverHarness()
        h.pair.server.peerHost = "kdc.other.test"
        h.pair.server.holdingSends = true
        var reports = 0
        h.pair.server.onFirstMessage = { [unowned h] frame in
            let record = ServerCrossover(id: "s1", frame: frame, session: h.pair.server, locals: [h.serverPolicy],
                                         ports: .init(lookups: KXOverLookups(resolver: h.resolver), keyStores: ["SERVICE.TEST": h.serverStore],
                                                      clock: h.world, random: h.world, timers: h.world)) { result in
                reports += 1
                h.serverResult = result
            }
            h.server = record
            record.start()
        }
        h.run()
        #expect(h.world.events.contains("server sends KRB-ERROR") && reports == 0)
        h.server?.cancel()
        h.pair.server.releaseSends()
        h.world.advance(30)
        #expect(reports == 1 && h.serverError?.code == .hostCheck)
    }

    @Test func refusalsAreToldButCancelledOrBrokenExchangesTellNothing() {
        let f = CrossoverHarness()
        f.pair.server.realmCheckFailure = KXError(.realmsCheck, "the peer's certificate does not name krbtgt/CLIENT.TEST@CLIENT.TEST")
        f.run()
        #expect(f.server?.told?.detail == "the certificates do not name krbtgt/CLIENT.TEST@CLIENT.TEST and krbtgt/SERVICE.TEST@SERVICE.TEST")
        #expect(f.clientError?.refusedBy == "kdc.service.test")

        let h = CrossoverHarness()
        h.pair.server.onFirstMessage?(KXMessage(kind: .request, offer: OfferBuilder.request(
            clientRealm: "CLIENT.TEST", serviceRealm: "SERVICE.TEST", now: h.world.now, salt: Array(repeating: 1, count: 32),
            kvno: 31_280, etypes: [17, 18])).derEncoded)
        h.server?.cancel()
        h.world.settle()
        #expect(h.serverError?.code == .cancelled && h.server?.told == nil)
        #expect(!h.world.events.contains("server sends KRB-ERROR"))

        let g = CrossoverHarness()
        g.pair.server.realmCheckFailure = KXError(.disconnected, "the peer closed the connection")
        g.run()
        #expect(g.serverError?.code == .disconnected && !g.world.events.contains("server sends KRB-ERROR"))
    }

    @Test func anUndecodableKRBErrorIsATransportFailure() {
        let h = CrossoverHarness()
        h.pair.server.onFirstMessage = { [unowned h] _ in
            h.pair.server.send([0x7E, 0x03, 0x30, 0x01, 0x00, 0, 0, 0, 0, 0]) { _ in }
        }
        h.run()
        #expect(h.clientError == KXError(.transport, "an undecodable KRB-ERROR in place of KX-REP"))
    }
}
