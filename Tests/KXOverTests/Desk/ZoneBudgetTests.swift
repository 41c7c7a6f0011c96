import KXOver
import Testing

/// One DNS zone that mints realms cannot grow the KDB without bound or use
/// up the exchanges every other zone shares.
@Suite("zone budget")
struct ZoneBudgetTests {
    func admitted(_ budget: inout ZoneBudget, _ realm: String, _ now: Double) -> Bool {
        if case .success = budget.admit(realm: realm, now: now) { return true }
        return false
    }

    @Test func theParentZoneIsTheNameWithoutItsFirstLabel() {
        #expect(ZoneBudget.parentZone(of: "A1.EVIL.EXAMPLE") == "EVIL.EXAMPLE")
        #expect(ZoneBudget.parentZone(of: "b.a.evil.example") == "A.EVIL.EXAMPLE")
        #expect(ZoneBudget.parentZone(of: "SERVICE.TEST") == "TEST")
    }

    /// 200 minted realms below one zone: only the cap's worth pass in an hour,
    /// while a realm below another zone crosses at once.
    @Test func aMintingFloodIsCappedPerZoneAndOthersStillCross() {
        var budget = ZoneBudget(limits: .init(newRealmsPerHour: 20, exchangesPerMinute: 1000))
        var passed = 0
        for n in 1...200 where admitted(&budget, "A\(n).EVIL.EXAMPLE", Double(n) / 10) { passed += 1 }
        #expect(passed == 20)
        if case .failure(let refusal) = budget.admit(realm: "A201.EVIL.EXAMPLE", now: 30) {
            #expect(refusal.cap == .newRealms && refusal.zone == "EVIL.EXAMPLE")
            #expect(refusal.detail.contains("max_new_realms_per_zone"))
        } else { Issue.record("a 21st new realm below one zone in an hour") }
        #expect(admitted(&budget, "PARTNER.GOOD.EXAMPLE", 30))
        // A realm already seen re-crosses (renewal, a second KDC): not new.
        #expect(admitted(&budget, "A5.EVIL.EXAMPLE", 40))
        // An hour after a realm was last seen, its place is free again.
        #expect(admitted(&budget, "A300.EVIL.EXAMPLE", 20 / 10 + 3600))
    }

    @Test func eachZoneHasItsOwnShareOfExchangesPerMinute() {
        var budget = ZoneBudget(limits: .init(newRealmsPerHour: 1000, exchangesPerMinute: 5))
        for n in 1...5 { #expect(admitted(&budget, "R\(n).EVIL.EXAMPLE", 0)) }
        if case .failure(let refusal) = budget.admit(realm: "R6.EVIL.EXAMPLE", now: 0) {
            #expect(refusal.cap == .exchanges)
        } else { Issue.record("a sixth exchange below one zone in the same second") }
        // The same realm again is refused too: the share is the zone's, not the realm's.
        #expect(!admitted(&budget, "R1.EVIL.EXAMPLE", 1))
        #expect(admitted(&budget, "SERVICE.OTHER.EXAMPLE", 1), "another zone's share is untouched")
        // Tokens come back at the share's rate: one every 12 s.
        #expect(admitted(&budget, "R7.EVIL.EXAMPLE", 13))
        #expect(!admitted(&budget, "R8.EVIL.EXAMPLE", 14))
    }

    @Test func aClockSteppingBackNeverMintsTokens() {
        var budget = ZoneBudget(limits: .init(newRealmsPerHour: 1000, exchangesPerMinute: 2))
        #expect(admitted(&budget, "A.Z.EXAMPLE", 1000))
        #expect(admitted(&budget, "B.Z.EXAMPLE", 1000))
        #expect(!admitted(&budget, "C.Z.EXAMPLE", 500), "negative elapsed time adds nothing")
        #expect(!admitted(&budget, "C.Z.EXAMPLE", 1001))
    }

    @Test func idleZonesAreForgotten() {
        var budget = ZoneBudget(limits: .defaults(globalPerMinute: 600))
        #expect(budget.limits.exchangesPerMinute == 150 && budget.limits.newRealmsPerHour == 20)
        for n in 1...50 { _ = budget.admit(realm: "R.Z\(n).EXAMPLE", now: 0) }
        #expect(budget.zoneCount == 50)
        budget.prune(now: 3601)
        #expect(budget.zoneCount == 0)
    }
}
