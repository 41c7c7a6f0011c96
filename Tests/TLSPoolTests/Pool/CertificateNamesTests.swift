import Foundation
import KXOver
import KXTestSupport
import Testing
@testable import TLSPool

/// What the pool reads from certificates itself: SAN TLVs, DNS names, KDC
/// principals, names for DANE; and that peer bytes never trap it.
@Suite("TLS Pool certificate names")
struct CertificateNamesTests {
    func der(_ file: String) throws -> [UInt8] { try TestCertificates.get().der(file) }

    @Test func kdcCertificateNames() throws {
        let names = try #require(CertificateNames(der: try der("kdc-a.crt")))
        #expect(names.dnsNames == ["kdc.a.test"])
        #expect(names.principals == [Principal.kdc(of: "A.TEST")])
        #expect(names.principals.first?.name.nameType == NameType.serviceInstance, "certtool writes name-type 2")
        #expect(names.commonName == "kdc.a.test" && names.certifiedHost == "kdc.a.test")
        #expect(names.subjectAltNames.contains(KDCGeneralName.krbtgt(realm: "A.TEST")))
        #expect(!names.subjectAltNames.contains(KDCGeneralName.krbtgt(realm: "A.TEST", nameType: 1)))
        #expect(names.subject.first == 0x30 && names.issuer == names.subject, "self-signed")
        let plain = try #require(CertificateNames(der: try der("kdc-plain.crt")))
        #expect(plain.principals.isEmpty && plain.dnsNames == ["kdc.n.test"])
        let ca = try #require(CertificateNames(der: try der("ca.crt")))
        #expect(ca.subjectAltNames.isEmpty && ca.certifiedHost == "ca")
    }

    @Test func garbageNeverTraps() throws {
        // Seeded: a failing round replays exactly.
        var generator = SeededRandom(seed: 0x6b78_6365_7274)
        let real = try der("kdc-b.crt")
        for round in 0..<2000 {
            var bytes = real
            // Flip a few bytes, cut the tail, or take pure noise.
            switch round % 3 {
            case 0: for _ in 0..<4 { bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
            case 1: bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &generator)))
            default: bytes = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            }
            _ = CertificateNames(der: bytes)
        }
    }

    @Test func hostNameRules() {
        #expect(HostName.isPlain("kdc.example.org") && HostName.isPlain("kdc.example.org."))
        #expect(!HostName.isPlain("*.example.org") && !HostName.isPlain("a..b") && !HostName.isPlain("-a.b") && !HostName.isPlain(""))
        #expect(!HostName.isPlain(String(repeating: "a", count: 64) + ".org"))
        #expect(HostName.domain(ofIdentity: "alice@kdc.a.test") == "kdc.a.test")
        #expect(HostName.equal("KDC.A.test.", "kdc.a.test"))
    }

    @Test func tlsaPresentationForm() {
        let record = TLSARecord(presentation: "3 1 1 0A0b\n")
        #expect(record == TLSARecord(usage: 3, selector: 1, matchingType: 1, data: [0x0A, 0x0B]))
        #expect(record?.rdata == [3, 1, 1, 0x0A, 0x0B])
        #expect(TLSARecord(presentation: "3 1 1") == nil && TLSARecord(presentation: "3 1 1 zz") == nil)
        #expect(StaticTLSAResolver(["KDC.A.test.": .insecure]).tlsa(forHost: "kdc.a.test") == .insecure)
        #expect(StaticTLSAResolver([:]).tlsa(forHost: "x") == .secure([]))
    }

    @Test func exporterLabelPolicy() {
        let policy = ExporterLabelPolicy.standard
        #expect(policy.allows(Array("EXPERIMENTAL-INTERNETWIDE-KXOVER".utf8)))
        #expect(policy.allows(Array("EXPORTER-Channel-Binding".utf8)))
        #expect(!policy.allows(Array("master secret".utf8)) && !policy.allows(Array("key expansion".utf8)))
        #expect(!policy.allows([0xFF, 0xFE]))
    }
}
