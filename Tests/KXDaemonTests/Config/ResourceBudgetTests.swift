import Foundation
@testable import KXDaemon
import KXOver
import KXTestSupport
import Testing
import TLSPool

/// kxoverd.service's LimitNOFILE= and MemoryMax= fit what kxoverd may hold at
/// its default caps (issue 19, item 6), and not wildly more.
@Suite("resource budget")
struct ResourceBudgetTests {
    /// `NAME=VALUE` of a unit file (K, M, G suffixes for sizes).
    func setting(_ name: String, in unit: String) throws -> Int {
        let text = try String(contentsOfFile: TestProcess.repoRoot + "/packaging/systemd/" + unit, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix(name + "=") })
        var value = String(line.dropFirst(name.count + 1))
        var scale = 1
        if let last = value.last, let power = ["K": 1, "M": 2, "G": 3][String(last)] {
            scale = 1 << (10 * power)
            value.removeLast()
        }
        return try #require(Int(value)) * scale
    }

    @Test func aConnectionHoldsAtMostThreeFramesAndOneRead() {
        let limits = FrontEndConfiguration.Limits()
        #expect(limits.frameLimits == .kdcRelay)
        #expect(limits.bytesPerTCPConnection == 3 * (131_072 + 4) + 65_536)
        #expect(limits.maxTCPConnections * limits.bytesPerTCPConnection < 256 << 20, "512 connections hold less than 256 MiB")
    }

    @Test func theUnitFitsTheDefaultCaps() throws {
        let budget = ResourceBudget.of(try ConfigurationValueTests.load())
        let files = try setting("LimitNOFILE", in: "kxoverd.service")
        let memory = try setting("MemoryMax", in: "kxoverd.service")
        #expect(budget.descriptors <= files, "\(budget.descriptors) descriptors at the caps, LimitNOFILE=\(files)")
        #expect(budget.bytes <= memory, "\(budget.bytes >> 20) MiB at the caps, MemoryMax=\(memory >> 20)M")
        // Matching, not merely above: at most twice what the caps need.
        #expect(files <= 2 * budget.descriptors && memory <= 2 * budget.bytes)
        // More exchanges need a drop-in: the budget grows with them.
        let more = ResourceBudget.of(frontEnd: .init(), maxExchanges: 1000)
        #expect(more.descriptors > files || more.bytes > memory)
    }

    @Test func tlspooldsUnitFitsThePoolsSessionCap() throws {
        let files = try setting("LimitNOFILE", in: "tlspoold.service")
        let memory = try setting("MemoryMax", in: "tlspoold.service")
        let sessions = TLSPoolConfiguration(identities: [], tlsaResolver: NoTLSA()).maximumSessions
        #expect(sessions * 3 + 1024 + 64 <= files)
        #expect(sessions * ResourceBudget.bytesPerExchange + ResourceBudget.baseBytes <= memory)
    }
}

private struct NoTLSA: TLSAResolver {
    func tlsa(forHost host: String, completion: @escaping @Sendable (TLSALookup) -> Void) { completion(.failed("none")) }
}
