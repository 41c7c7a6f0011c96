import KXOver
import Testing

@Suite("global exchange limits")
struct ExchangeAdmissionTests {
    @Test func inFlightCap() {
        var admission = ExchangeAdmission(maxInFlight: 2, perMinute: 100)
        #expect(admission.admit(inFlight: 0, now: 0) == nil)
        #expect(admission.admit(inFlight: 1, now: 0) == nil)
        #expect(admission.admit(inFlight: 2, now: 0) == "2 exchanges in flight, the limit is 2")
        #expect(admission.admit(inFlight: 1, now: 0) == nil)
    }

    @Test func aMinuteOfBurstThenTheSteadyRate() {
        var admission = ExchangeAdmission(maxInFlight: 1000, perMinute: 60)
        for _ in 0..<60 { #expect(admission.admit(inFlight: 0, now: 100) == nil) }
        #expect(admission.admit(inFlight: 0, now: 100) == "more than 60 new exchanges in the last minute")
        #expect(admission.admit(inFlight: 0, now: 100.5) != nil)   // half a token
        #expect(admission.admit(inFlight: 0, now: 101) == nil)     // one a second again
        #expect(admission.admit(inFlight: 0, now: 101) != nil)
        #expect(admission.admit(inFlight: 0, now: 1000) == nil)    // refilled, capped at a minute's worth
        for _ in 0..<59 { #expect(admission.admit(inFlight: 0, now: 1000) == nil) }
        #expect(admission.admit(inFlight: 0, now: 1000) != nil)
    }

    @Test func refusalsCostNoToken() {
        var admission = ExchangeAdmission(maxInFlight: 1, perMinute: 1)
        #expect(admission.admit(inFlight: 1, now: 0) != nil)   // busy: not counted against the rate
        #expect(admission.admit(inFlight: 0, now: 0) == nil)
    }

    @Test func aClockThatStepsBackDoesNotMintTokens() {
        var admission = ExchangeAdmission(maxInFlight: 10, perMinute: 1)
        #expect(admission.admit(inFlight: 0, now: 500) == nil)
        #expect(admission.admit(inFlight: 0, now: 100) != nil)
    }
}
