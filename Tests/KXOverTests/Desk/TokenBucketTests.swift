import KXOver
import Testing

/// The desk's one rate limiter.
@Suite("token bucket")
struct TokenBucketTests {
    @Test func aMinutesWorthPassesThenOneTokenPerPeriod() {
        var bucket = TokenBucket(perMinute: 6)   // one token every 10 s
        for _ in 0..<6 { #expect(bucket.take(now: 0) == true) }
        #expect(bucket.take(now: 0) == false)
        #expect(bucket.take(now: 9) == false)
        #expect(bucket.take(now: 10.5) == true)
        #expect(bucket.take(now: 11) == false)
    }

    @Test func aClockSteppingBackAndForthMintsNothing() {
        var bucket = TokenBucket(perMinute: 6)
        for _ in 0..<6 { #expect(bucket.take(now: 1000) == true) }
        #expect(bucket.take(now: 100) == false, "back: nothing")
        #expect(bucket.take(now: 1005) == false, "forward again: counted from 1000, not from 100")
        #expect(bucket.take(now: 1010) == true)
    }

    @Test func aNewRateKeepsNoMoreThanItsSize() {
        var bucket = TokenBucket(perMinute: 100)
        bucket.setRate(2)
        #expect(bucket.take(now: 0) == true)
        #expect(bucket.take(now: 0) == true)
        #expect(bucket.take(now: 0) == false)
    }
}
