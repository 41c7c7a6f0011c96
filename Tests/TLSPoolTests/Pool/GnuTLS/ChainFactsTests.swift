import Foundation
import Testing
@testable import TLSPool

/// The pool reads a chain once: facts come back from memory for the same
/// bytes and host, never across hosts, and the time is still compared on
/// every use.
@Suite("TLS Pool chain facts")
struct ChainFactsTests {
    func der(_ file: String) throws -> [UInt8] { try TestCertificates.get().der(file) }

    @Test func aChainIsReadOncePerHostAndItsHostCheckDoesNotCarryOver() throws {
        let memory = ChainFactsMemory()
        let chain = [try der("kdc-b.crt")]
        let first = try #require(memory.facts(of: chain, expectedHost: "kdc.b.test"))
        #expect(first.namesExpectedHost)
        #expect(first.names.dnsNames == ["kdc.b.test"])
        #expect(memory.facts(of: chain, expectedHost: "kdc.b.test")?.names == first.names)
        #expect(memory.count == 1, "the same chain and host again is a lookup")
        // Another host asked about: its own check, not the remembered answer.
        #expect(memory.facts(of: chain, expectedHost: "kdc.a.test")?.namesExpectedHost == false)
        #expect(memory.facts(of: chain, expectedHost: nil)?.namesExpectedHost == true)
        #expect(memory.count == 3)
    }

    @Test func rememberedValidityIsComparedWithTheTimeOfUse() throws {
        let memory = ChainFactsMemory()
        let good = try #require(memory.facts(of: [try der("kdc-a.crt")], expectedHost: nil))
        let period = try #require(good.validity.first)
        #expect(period.problem() == nil)
        #expect(period.problem(at: period.expiration.addingTimeInterval(1))?.hasPrefix("expired at") == true)
        #expect(period.problem(at: period.activation.addingTimeInterval(-1))?.hasPrefix("not valid before") == true)
        let expired = try #require(memory.facts(of: [try der("kdc-expired.crt")], expectedHost: nil))
        #expect(expired.validity.first?.problem()?.hasPrefix("expired at") == true)
        #expect(memory.facts(of: [try der("kdc-expired.crt")], expectedHost: nil)?.validity.first?.problem()?.hasPrefix("expired at") == true)
    }

    @Test func unreadableChainsAreRefusedAndNotKept() throws {
        let memory = ChainFactsMemory()
        #expect(memory.facts(of: [[0x30, 0x03, 0x02, 0x01, 0x01]], expectedHost: nil) == nil)
        #expect(memory.facts(of: [try der("kdc-a.crt"), [0x30, 0x00]], expectedHost: nil) == nil, "one bad certificate spoils the chain")
        #expect(memory.count == 0)
    }

    @Test func aLargeChainIsCheckedButNotKept() throws {
        let memory = ChainFactsMemory()
        let certificate = try der("kdc-a.crt")
        let large = Array(repeating: certificate, count: ChainFactsMemory.largestChainKept / certificate.count + 1)
        let facts = try #require(memory.facts(of: large, expectedHost: "kdc.a.test"))
        #expect(facts.validity.count == large.count && facts.namesExpectedHost)
        #expect(memory.count == 0, "\(large.count) certificates of \(certificate.count) bytes are over the limit")
        _ = memory.facts(of: [certificate], expectedHost: "kdc.a.test")
        #expect(memory.count == 1)
    }

    @Test func memoryIsBounded() throws {
        let memory = ChainFactsMemory()
        let chain = [try der("kdc-a.crt")]
        for n in 0...ChainFactsMemory.chainsKept { _ = memory.facts(of: chain, expectedHost: "h\(n).test") }
        #expect(memory.count <= ChainFactsMemory.chainsKept)
    }
}
