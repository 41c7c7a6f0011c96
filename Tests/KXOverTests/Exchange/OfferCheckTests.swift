import SwiftASN1
import Testing
@testable import KXOver

/// Every rule of spec §5.5, positive and negative, and every merge failure.
@Suite("offer checklists and merge")
struct OfferCheckTests {
    let now = Fixture.now

    func requestFails(_ code: KXError.Code, _ mutate: (inout KXOffer) -> Void, now: KerberosTime? = nil) {
        var offer = Fixture.request()
        mutate(&offer)
        #expect(throws: KXError.self) { try OfferChecks.checkRequest(offer, now: now ?? self.now) }
        do { _ = try OfferChecks.checkRequest(offer, now: now ?? self.now) } catch let e as KXError {
            #expect(e.code == code, "\(e)")
        } catch { Issue.record("unexpected \(error)") }
    }

    func replyFails(_ code: KXError.Code, _ mutate: (inout KXOffer) -> Void) {
        let request = Fixture.request()
        var reply = Fixture.reply(to: request)
        mutate(&reply)
        do {
            try OfferChecks.checkReply(reply, request: request, now: now)
            _ = try KeySchedule.merge(request: request, reply: reply)
            _ = try KeySchedule.layout(request: request, reply: reply)
            Issue.record("expected \(code), nothing failed")
        } catch let e as KXError {
            #expect(e.code == code, "\(e)")
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func happyPath() throws {
        let request = Fixture.request()
        let realms = try OfferChecks.checkRequest(request, now: now)
        #expect(realms == OfferChecks.Realms(client: "CLIENT.TEST", service: "SERVICE.TEST"))
        let reply = Fixture.reply(to: request)
        try OfferChecks.checkReply(reply, request: request, now: now)
        let info = try KeySchedule.merge(request: request, reply: reply)
        #expect(info.kvno == reply.kvno)
        #expect(info.kxName == .crossover(client: "CLIENT.TEST", service: "SERVICE.TEST"))
        #expect(try KeySchedule.layout(request: request, reply: reply).etypes == [18, 20])
        // Through the wire and back, both sides build the same context bytes.
        let req2 = try OfferChecks.decode(KXMessage(kind: .request, offer: request).derEncoded, expecting: .request).offer
        let rep2 = try OfferChecks.decode(KXMessage(kind: .reply, offer: reply).derEncoded, expecting: .reply).offer
        #expect(try KeySchedule.merge(request: req2, reply: rep2).derEncoded == info.derEncoded)
    }

    // MARK: server on KX-REQ

    @Test func kxNameMustBeKrbtgt() {
        requestFails(.offerPrincipal) { $0.kxName.name = PrincipalName(nameType: 2, components: ["host", "SERVICE.TEST"]) }
        requestFails(.offerPrincipal) { $0.kxName.name = PrincipalName(nameType: 2, components: ["krbtgt", "SERVICE.TEST", "X"]) }
        requestFails(.offerPrincipal) { $0.kxName.name = PrincipalName(nameType: 2, components: ["krbtgt"]) }
    }

    @Test func myNameMustBeKrbtgt() {
        requestFails(.offerPrincipal) { $0.myName.name = PrincipalName(nameType: 2, components: ["kxover", "CLIENT.TEST"]) }
    }

    @Test func realmsMustAgree() {
        requestFails(.offerRealm) { $0.myName.realm = "OTHER.TEST" }
        requestFails(.offerRealm) { $0.kxName.realm = "OTHER.TEST" }
        requestFails(.offerRealm) { $0.kxName = .crossover(client: "CLIENT.TEST", service: "CLIENT.TEST") }
        requestFails(.offerRealm) {
            $0.kxName = .crossover(client: "client.test", service: "SERVICE.TEST")
            $0.myName = .kdc(of: "client.test")
        }
    }

    @Test func nameTypesMustBeSrvInst() {
        requestFails(.offerNameType) { $0.kxName.name.nameType = 1 }
        requestFails(.offerNameType) { $0.myName.name.nameType = 3 }
    }

    @Test func timing() {
        requestFails(.offerTiming) { $0.from = $0.requestTime.adding(seconds: -1) }
        requestFails(.offerTiming) { $0.till = $0.from }
        requestFails(.offerTiming) { $0.till = $0.from.adding(seconds: -60) }
        requestFails(.offerTiming) { $0.till = $0.from.adding(seconds: 32 * 86_400) }
        // Clock skew: exactly 300 s is fine, 301 s is not, in both directions.
        var offer = Fixture.request()
        #expect((try? OfferChecks.checkRequest(offer, now: now.adding(seconds: 300))) != nil)
        #expect((try? OfferChecks.checkRequest(offer, now: now.adding(seconds: -300))) != nil)
        requestFails(.offerTiming, { _ in }, now: now.adding(seconds: 301))
        requestFails(.offerTiming, { _ in }, now: now.adding(seconds: -301))
        // `from` may lead request-time by the clock skew, not more (spec §5.5 rule 4).
        offer.from = offer.requestTime.adding(seconds: 300)
        offer.till = offer.from.adding(seconds: 14 * 86_400)
        #expect((try? OfferChecks.checkRequest(offer, now: now)) != nil)
        requestFails(.offerTiming) { $0.from = $0.requestTime.adding(seconds: 301); $0.till = $0.from.adding(seconds: 14 * 86_400) }
    }

    /// A peer cannot stretch a key's life: from = now + 10 years is refused on
    /// both sides, and so is a till beyond now plus the maximum lifetime.
    @Test func aPeerCannotStretchAKeysLife() {
        let tenYears: Int64 = 10 * 365 * 86_400
        requestFails(.offerTiming) { $0.from = $0.requestTime.adding(seconds: tenYears); $0.till = $0.from.adding(seconds: 14 * 86_400) }
        requestFails(.offerTiming) { $0.till = $0.requestTime.adding(seconds: tenYears) }
        replyFails(.offerTiming) { $0.from = $0.requestTime.adding(seconds: tenYears); $0.till = $0.from.adding(seconds: 14 * 86_400) }
        replyFails(.offerTiming) { $0.from = $0.requestTime.adding(seconds: 3_600); $0.till = $0.from.adding(seconds: 14 * 86_400) }
        // A request whose `from` is a little ahead gets a reply that still ends within the bound.
        var request = Fixture.request()
        request.from = request.requestTime.adding(seconds: 200)
        request.till = request.from.adding(seconds: 14 * 86_400)
        let reply = OfferBuilder.reply(to: request, serviceRealm: "SERVICE.TEST", now: now, salt: [1], kvno: 3052,
                                       etypes: [18], lifetime: LifetimePolicy.maximumAccepted)
        #expect((try? OfferChecks.checkReply(reply, request: request, now: now)) != nil)
    }

    /// The server's per-pair rate limit holds when its clock steps back: a key
    /// that seems to be made in the future counts as made just now.
    @Test func aClockStepBackwardsNeverLiftsTheRateLimit() throws {
        let made = now.adding(seconds: 3_600)
        let kvno = try #require(KvnoPolicy.next(now: now, existing: []))
        let versions = [ManagedKeySet.Version(kvno: kvno, etypes: [18], from: made, till: made.adding(seconds: 86_400))]
        #expect(ServerCrossover.rateLimit(versions, now: now)?.code == .rateLimited)
        #expect(ServerCrossover.rateLimit(versions, now: made.adding(seconds: 5))?.code == .rateLimited)
        #expect(ServerCrossover.rateLimit(versions, now: made.adding(seconds: 86_400)) == nil)
    }

    @Test func etypesSaltAndExtensions() {
        requestFails(.offerEtypes) { $0.etypes = [18, 17] }
        requestFails(.offerEtypes) { $0.etypes = [17, 17] }
        requestFails(.offerSalt) { $0.salt = Array(repeating: 1, count: 65) }
        let unknown: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 44469, 666, 88, 1, 2, 2]
        requestFails(.offerExtension) { $0.extensions = [KXOfferExtension(oid: unknown, critical: true)] }
        // Unknown non-critical extensions are ignored; empty etypes and 64-byte salts pass the request checks.
        var offer = Fixture.request()
        offer.extensions = [KXOfferExtension(oid: unknown, critical: false, value: [0x30, 0x00])]
        offer.salt = Array(repeating: 2, count: 64)
        offer.etypes = []
        #expect((try? OfferChecks.checkRequest(offer, now: now)) != nil)
    }

    // MARK: client on KX-REP

    @Test func replyMustEchoTheRequest() {
        replyFails(.mergeTiming) { $0.requestTime = $0.requestTime.adding(seconds: 1) }
        replyFails(.mergeRealm) { $0.kxName.realm = "OTHER.TEST" }
        replyFails(.mergeNameType) { $0.kxName.name.nameType = 1 }
        replyFails(.mergePrincipal) { $0.kxName.name.components[1] = "OTHER.REALM" }
    }

    @Test func replySenderMustBeTheServiceKDC() {
        replyFails(.offerPrincipal) { $0.myName = .kdc(of: "OTHER.TEST") }
        replyFails(.offerRealm) { $0.myName.realm = "OTHER.TEST" }
        replyFails(.offerNameType) { $0.myName.name.nameType = 1 }
    }

    @Test func replyTimingAndMerge() {
        // The server may be up to 300 s behind the client's request-time.
        var request = Fixture.request()
        var reply = Fixture.reply(to: request)
        reply.from = request.requestTime.adding(seconds: -300)
        #expect((try? OfferChecks.checkReply(reply, request: request, now: now)) != nil)
        replyFails(.offerTiming) { $0.from = $0.requestTime.adding(seconds: -301) }
        replyFails(.offerTiming) { $0.till = $0.from }
        // REP till at or before REQ from: the effective interval is empty.
        request = Fixture.request()
        request.from = request.requestTime.adding(seconds: 20 * 86_400)
        request.till = request.from.adding(seconds: 14 * 86_400)
        reply = Fixture.reply(to: request)
        reply.from = request.requestTime
        reply.till = request.from
        #expect(throws: KXError.self) { try KeySchedule.merge(request: request, reply: reply) }
        do { _ = try KeySchedule.merge(request: request, reply: reply) } catch let e as KXError { #expect(e.code == .mergeTiming) } catch {}
    }

    @Test func replyEtypesKvnoAndExtensions() {
        replyFails(.offerEtypes) { $0.etypes = [25, 26] }          // disjoint
        replyFails(.offerEtypes) { $0.etypes = [] }
        replyFails(.offerEtypes) { $0.etypes = [20, 18] }
        replyFails(.offerKvno) { $0.kvno = 0 }
        replyFails(.offerKvno) { $0.kvno = 1 }
        replyFails(.offerKvno) { $0.kvno = 40_000 }
        replyFails(.offerSalt) { $0.salt = Array(repeating: 0, count: 65) }
        replyFails(.offerExtension) { $0.extensions = [KXOfferExtension(oid: [1, 2, 3], critical: true)] }
    }

    @Test func mergeRules() throws {
        var request = Fixture.request()
        var reply = Fixture.reply(to: request)
        reply.from = request.from.adding(seconds: 5)
        reply.till = request.till.adding(seconds: 100)
        request.maxUses = 10
        var info = try KeySchedule.merge(request: request, reply: reply)
        #expect(info.from == reply.from)       // the later from
        #expect(info.till == request.till)     // the earlier till
        #expect(info.maxUses == 10)            // either side's, the lower one
        reply.maxUses = 3
        info = try KeySchedule.merge(request: request, reply: reply)
        #expect(info.maxUses == 3)
        #expect(info.kvno == reply.kvno)       // REP's kvno, not REQ's
        #expect(info.reqSalt == request.salt && info.repSalt == reply.salt)
        #expect(info.extensionInfo.isEmpty)
    }

    @Test func sharedEtypesWalk() {
        #expect(KeySchedule.sharedEtypes([18, 20, 26], [17, 18, 20]) == [18, 20])
        #expect(KeySchedule.sharedEtypes([], [17]) == [])
        #expect(KeySchedule.sharedEtypes([17, 19, 25], [18, 20, 26]) == [])
        #expect(KeySchedule.sharedEtypes([17, 18, 19, 20, 25, 26], [17, 18, 19, 20, 25, 26]) == [17, 18, 19, 20, 25, 26])
    }

    @Test func decodeFailuresMapToTransportOrOffer() {
        func find(_ pattern: [UInt8], in bytes: [UInt8]) -> Int {
            (0...(bytes.count - pattern.count)).first { Array(bytes[$0..<($0 + pattern.count)]) == pattern }!
        }
        var bytes = KXMessage(kind: .request, offer: Fixture.request()).derEncoded
        bytes[find([0xA0, 0x03, 0x02, 0x01, 0x05], in: bytes) + 4] = 4
        do { _ = try OfferChecks.decode(bytes, expecting: .request) } catch let e as KXError {
            #expect(e.code == .transport)
            #expect(e.decodeFailure?.field == "KX-REQ.pvno")
        } catch { Issue.record("\(error)") }
        bytes = KXMessage(kind: .request, offer: Fixture.request()).derEncoded
        let time = find([0xA0, 0x11, 0x18, 0x0F], in: bytes) + 4
        bytes[time + 4] = UInt8(ascii: "1"); bytes[time + 5] = UInt8(ascii: "3")  // month 13
        do { _ = try OfferChecks.decode(bytes, expecting: .request) } catch let e as KXError {
            #expect(e.code == .offer)
            #expect(e.decodeFailure?.field == "KX-REQ.offer.request-time")
        } catch { Issue.record("\(error)") }
    }
}
