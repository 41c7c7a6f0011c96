import KXOver
import Testing

/// The trigger decisions (spec §1.3): explicit `krbtgt/REMOTE` requests, and
/// referral-style host-based requests decided before the KDC sees them.
@Suite("crossover triggers")
struct CrossoverTriggerTests {
    static let locals: Set<String> = ["CLIENT.TEST"]

    /// A minimal TGS-REQ (RFC 4120 §5.4.1) with the given options, realm and sname.
    static func tgsRequest(realm: String = "CLIENT.TEST", nameType: Int32 = NameType.serviceHost,
                           sname: [String] = ["host", "svc.service.test"], options: UInt32 = 1 << (31 - 15)) -> [UInt8] {
        func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
            precondition(content.count < 128)
            return [tag, UInt8(content.count)] + content
        }
        func string(_ s: String) -> [UInt8] { tlv(0x1B, Array(s.utf8)) }
        let optionBytes: [UInt8] = [0x00] + withUnsafeBytes(of: options.bigEndian) { Array($0) }
        let name = tlv(0x30, tlv(0xA0, [0x02, 0x01, UInt8(nameType)]) + tlv(0xA1, tlv(0x30, sname.flatMap(string))))
        let body = tlv(0x30, tlv(0xA0, tlv(0x03, optionBytes)) + tlv(0xA2, string(realm)) + tlv(0xA3, name)
                        + tlv(0xA5, [0x18, 0x0F] + Array("20261128120000Z".utf8))
                        + tlv(0xA7, [0x02, 0x01, 0x2A]) + tlv(0xA8, tlv(0x30, [0x02, 0x01, 0x12])))
        return tlv(0x6C, tlv(0x30, tlv(0xA1, [0x02, 0x01, 0x05]) + tlv(0xA2, [0x02, 0x01, 0x0C]) + tlv(0xA4, body)))
    }

    @Test func referralRequestForAHostIsRecognised() throws {
        let asked = try #require(CrossoverTrigger.hostBasedRequest(of: Self.tgsRequest(sname: ["host", "Svc.Service.Test."]), localRealms: Self.locals))
        #expect(asked.localRealm == "CLIENT.TEST")
        #expect(asked.service == "host")
        #expect(asked.host == "svc.service.test")
    }

    @Test(arguments: [
        ("no canonicalize", tgsRequest(options: 0)),
        ("user-to-user", tgsRequest(options: 1 << (31 - 15) | 1 << (31 - 28))),
        ("NT-SRV-INST", tgsRequest(nameType: NameType.serviceInstance)),
        ("NT-PRINCIPAL", tgsRequest(nameType: NameType.principal)),
        ("krbtgt first", tgsRequest(nameType: NameType.serviceInstance, sname: ["krbtgt", "SERVICE.TEST"])),
        ("krbtgt with NT-SRV-HST", tgsRequest(sname: ["krbtgt", "service.test"])),
        ("one component", tgsRequest(sname: ["svc.service.test"])),
        ("three components", tgsRequest(sname: ["host", "svc.service.test", "x"])),
        ("host without a dot", tgsRequest(sname: ["host", "localhost"])),
        ("empty label", tgsRequest(sname: ["host", "svc..test"])),
        ("space in the host", tgsRequest(sname: ["host", "svc service.test"])),
        ("not our realm", tgsRequest(realm: "OTHER.TEST")),
    ])
    func otherRequestsAreNotReferrals(_ what: String, _ request: [UInt8]) {
        #expect(CrossoverTrigger.hostBasedRequest(of: request, localRealms: Self.locals) == nil, "\(what)")
    }

    @Test func garbageIsNotAReferral() {
        #expect(CrossoverTrigger.hostBasedRequest(of: [], localRealms: Self.locals) == nil)
        #expect(CrossoverTrigger.hostBasedRequest(of: [0x6C, 0x03, 0x30, 0x01, 0x00], localRealms: Self.locals) == nil)
        let asRequest = [0x6A] + Self.tgsRequest().dropFirst()
        #expect(CrossoverTrigger.hostBasedRequest(of: Array(asRequest), localRealms: Self.locals) == nil)
    }

    @Test func hostRealmDecidesTheCrossover() throws {
        let asked = try #require(CrossoverTrigger.hostBasedRequest(of: Self.tgsRequest(), localRealms: Self.locals))
        #expect(CrossoverTrigger.hostBasedDecision(asked, hostRealm: "SERVICE.TEST", localRealms: Self.locals)
                == CrossoverTrigger.Decision(localRealm: "CLIENT.TEST", remoteRealm: "SERVICE.TEST"))
        // Ours, another realm we serve, nothing (insecure, bogus, unknown), or not a DNS-style realm: no crossover.
        #expect(CrossoverTrigger.hostBasedDecision(asked, hostRealm: "CLIENT.TEST", localRealms: Self.locals) == nil)
        #expect(CrossoverTrigger.hostBasedDecision(asked, hostRealm: "SISTER.TEST", localRealms: Self.locals.union(["SISTER.TEST"])) == nil)
        #expect(CrossoverTrigger.hostBasedDecision(asked, hostRealm: nil, localRealms: Self.locals) == nil)
        #expect(CrossoverTrigger.hostBasedDecision(asked, hostRealm: "service.test", localRealms: Self.locals) == nil)
        #expect(CrossoverTrigger.hostBasedDecision(asked, hostRealm: "", localRealms: Self.locals) == nil)
    }

    @Test func explicitRealmRequestsStillTrigger() {
        let request = Self.tgsRequest(nameType: NameType.serviceInstance, sname: ["krbtgt", "SERVICE.TEST"], options: 0)
        #expect(CrossoverTrigger.crossRealmTarget(of: request, localRealms: Self.locals)
                == CrossoverTrigger.Decision(localRealm: "CLIENT.TEST", remoteRealm: "SERVICE.TEST"))
        #expect(CrossoverTrigger.hostBasedRequest(of: request, localRealms: Self.locals) == nil)
        #expect(CrossoverTrigger.crossRealmTarget(of: Self.tgsRequest(), localRealms: Self.locals) == nil)
        let own = Self.tgsRequest(nameType: NameType.serviceInstance, sname: ["krbtgt", "CLIENT.TEST"], options: 0)
        #expect(CrossoverTrigger.crossRealmTarget(of: own, localRealms: Self.locals) == nil)
    }

    /// After a KRB-ERROR 7 only `krbtgt/REMOTE` triggers: a host-based name was
    /// already decided before the KDC saw it, whatever `hostBased` says.
    @Test func repliesTriggerOnlyForExplicitRealms() {
        let error = Vectors.load("mit-krb-error-7-fast.der")
        let beta = Vectors.load("mit-tgs-req-fast-krbtgt-beta.der")
        #expect(CrossoverTrigger.decide(request: beta, reply: error, localRealms: ["ALPHA.EXAMPLE"])
                == CrossoverTrigger.Decision(localRealm: "ALPHA.EXAMPLE", remoteRealm: "BETA.EXAMPLE.ORG"))
        for hostBased in [false, true] {
            #expect(CrossoverTrigger.decide(request: Self.tgsRequest(), reply: error, localRealms: Self.locals, hostBased: hostBased) == nil)
        }
    }

    @Test func hostNames() {
        #expect(HostName.normalized("Svc.Example.ORG.") == "svc.example.org")
        #expect(HostName.normalized("_kerberos.a-b.example") == "_kerberos.a-b.example")
        #expect(HostName.normalized("a.b") == "a.b")
        for bad in ["", ".", "localhost", "a..b", ".a.b", "a.b..", "a b.c", "ä.example", "a/b.c",
                    String(repeating: "a", count: 64) + ".example", String(repeating: "abcdefg.", count: 32) + "example"] {
            #expect(HostName.normalized(bad) == nil, "\(bad)")
        }
        let longest = Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: ".") // 255
        #expect(HostName.normalized(String(longest.dropFirst(2))) != nil)   // 253
        #expect(HostName.normalized(String(longest.dropFirst(1))) == nil)   // 254
    }

    /// The relay peeks at every request, so field names are built only on
    /// failure; they must still name the item and the wrapper at fault.
    @Test func peekFailuresNameTheFieldAtFault() throws {
        var badComponent = Self.tgsRequest(sname: ["host", "svc.service.test"])
        let second = try #require(badComponent.firstRange(of: [0x1B, 0x10] + Array("svc.service.test".utf8)))
        badComponent[second.lowerBound] = 0x04   // an OCTET STRING, not a KerberosString
        #expect(throws: DecodeFailure(field: "KDC-REQ.TGS-REQ.req-body.sname.name-string.[1]", offset: second.lowerBound,
                                      reason: "expected tag 0x1B, found 0x04")) { try KDCRequestPeek(derEncoded: badComponent) }
        var badPvno = Self.tgsRequest()
        badPvno[4] = 0xA9   // [9] where pvno's [1] belongs
        #expect(throws: DecodeFailure(field: "KDC-REQ.TGS-REQ.pvno[1]", offset: 4,
                                      reason: "expected tag 0xA1, found 0xA9")) { try KDCRequestPeek(derEncoded: badPvno) }
    }

    /// The engine peeks once and asks both questions of the peek; the answers
    /// match those from the bytes.
    @Test func peekedAndByteQuestionsAgree() throws {
        for request in [Self.tgsRequest(), Self.tgsRequest(nameType: NameType.serviceInstance, sname: ["krbtgt", "SERVICE.TEST"])] {
            let peek = try KDCRequestPeek(derEncoded: request)
            #expect(CrossoverTrigger.hostBasedRequest(of: peek, localRealms: Self.locals)
                    == CrossoverTrigger.hostBasedRequest(of: request, localRealms: Self.locals))
            #expect(CrossoverTrigger.crossRealmTarget(of: peek, localRealms: Self.locals)
                    == CrossoverTrigger.crossRealmTarget(of: request, localRealms: Self.locals))
        }
        #expect(CrossoverTrigger.crossRealmTarget(of: try KDCRequestPeek(derEncoded: Self.tgsRequest(
            nameType: NameType.serviceInstance, sname: ["krbtgt", "SERVICE.TEST"])), localRealms: Self.locals)
            == .init(localRealm: "CLIENT.TEST", remoteRealm: "SERVICE.TEST"))
    }
}
