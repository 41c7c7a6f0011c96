import KXOver
import Testing

/// Held requests are capped per exchange, per source network and in all;
/// a request over a cap is refused a hold (and goes on at once).
@Suite("hold budget")
struct HoldBudgetTests {
    let limits = HoldBudget.Limits(perExchange: 3, perSource: 2, total: 4)

    func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> [UInt8] { [a, b, c, d] }

    @Test func oneNetworkGetsItsShareAndNoMore() {
        var budget = HoldBudget(limits: limits)
        #expect((try? budget.admit(exchange: "A>EVIL", address: v4(10, 0, 0, 1)).get()) != nil)
        #expect((try? budget.admit(exchange: "A>EVIL", address: v4(10, 0, 0, 2)).get()) != nil)
        // The same /24, another address: refused by the per-source cap.
        if case .failure(let refused) = budget.admit(exchange: "A>EVIL", address: v4(10, 0, 0, 3)) {
            #expect(refused.cap == .source)
        } else { Issue.record("a third hold from one /24") }
        // Another network may still be held for the same exchange ...
        #expect((try? budget.admit(exchange: "A>EVIL", address: v4(10, 0, 1, 1)).get()) != nil)
        // ... until the exchange's own cap.
        if case .failure(let refused) = budget.admit(exchange: "A>EVIL", address: v4(10, 0, 2, 1)) {
            #expect(refused.cap == .exchange)
        } else { Issue.record("a fourth hold for one exchange") }
        #expect(budget.held == 3)
    }

    @Test func theTotalCapLeavesRoomForNoMore() {
        var budget = HoldBudget(limits: limits)
        for (i, exchange) in ["A>B", "A>B", "A>C", "A>C"].enumerated() {
            #expect((try? budget.admit(exchange: exchange, address: v4(10, UInt8(i), 0, 1)).get()) != nil)
        }
        if case .failure(let refused) = budget.admit(exchange: "A>D", address: v4(192, 0, 2, 1)) {
            #expect(refused.cap == .total)
        } else { Issue.record("a hold over the total") }
    }

    @Test func releasingGivesTheHoldBack() throws {
        var budget = HoldBudget(limits: limits)
        let first = try budget.admit(exchange: "A>B", address: v4(10, 0, 0, 1)).get()
        _ = try budget.admit(exchange: "A>B", address: v4(10, 0, 0, 2)).get()
        #expect((try? budget.admit(exchange: "A>B", address: v4(10, 0, 0, 3)).get()) == nil)
        budget.release(first)
        #expect((try? budget.admit(exchange: "A>B", address: v4(10, 0, 0, 3)).get()) != nil)
        #expect(budget.held == 2)
    }

    @Test func anIPv6SiteCountsAsOneSource() {
        var budget = HoldBudget(limits: limits)
        let site: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0x02]
        #expect((try? budget.admit(exchange: "A>B", address: site + Array(repeating: 1, count: 9)).get()) != nil)
        #expect((try? budget.admit(exchange: "A>B", address: site + Array(repeating: 2, count: 9)).get()) != nil)
        #expect((try? budget.admit(exchange: "A>B", address: site + Array(repeating: 3, count: 9)).get()) == nil)
        // The next /56 is another source.
        #expect((try? budget.admit(exchange: "A>B", address: [0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0x03] + Array(repeating: 1, count: 9)).get()) != nil)
    }

    @Test func theDefaultsStayWellBelowTheRelaysCapacity() {
        let defaults = HoldBudget.Limits.default
        #expect(defaults.total * 4 <= 512)
        #expect(defaults.perExchange < defaults.total && defaults.perSource < defaults.perExchange)
    }
}
