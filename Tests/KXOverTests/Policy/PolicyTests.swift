import Testing
import KXOver

@Suite("kvno, lifetime and realm policy")
struct PolicyTests {
    @Test func kvnoExamplesFromTheSpec() {
        #expect(KvnoPolicy.kvno(month: 7, day: 4, serial: 0) == 27_040)
        #expect(KvnoPolicy.kvno(month: 12, day: 5, serial: 1) == 32_051)
        #expect(KvnoPolicy.kvno(month: 3, day: 6, serial: 1) == 23_061)
        #expect(KvnoPolicy.kvno(month: 0, day: 1, serial: 0) == KvnoPolicy.range.lowerBound)
        #expect(KvnoPolicy.kvno(month: 12, day: 31, serial: 9) == KvnoPolicy.range.upperBound)
        #expect(KvnoPolicy.components(of: 27_040)! == (7, 4, 0))
        #expect(KvnoPolicy.components(of: 20_000) == nil)
        #expect(KvnoPolicy.components(of: 23_001) == nil)   // day 0
        #expect(KvnoPolicy.components(of: 33_000) == nil)
    }

    @Test func nextKvnoCountsSerialsPerDay() throws {
        let july4 = try KerberosTime("20260704235959Z")
        #expect(KvnoPolicy.next(now: july4, existing: []) == 27_040)
        #expect(KvnoPolicy.next(now: july4, existing: [27_040]) == 27_041)
        #expect(KvnoPolicy.next(now: july4, existing: [27_040, 27_043]) == 27_044)
        #expect(KvnoPolicy.next(now: july4, existing: [27_030, 27_031]) == 27_040)   // yesterday's keys
        #expect(KvnoPolicy.next(now: july4, existing: Array(27_040...27_049)) == nil)
        #expect(KvnoPolicy.next(now: july4, existing: [27_049]) == nil)
    }

    @Test func serverKvnoChoice() throws {
        let july4 = try KerberosTime("20260704120000Z")
        #expect(KvnoPolicy.reply(now: july4, requested: 27_040, existing: []) == 27_040)
        #expect(KvnoPolicy.reply(now: july4, requested: 27_042, existing: []) == 27_042)   // a later serial today
        #expect(KvnoPolicy.reply(now: july4, requested: 27_040, existing: [27_040]) == 27_041)
        #expect(KvnoPolicy.reply(now: july4, requested: 3_052, existing: []) == 27_040)     // foreign scheme
        #expect(KvnoPolicy.reply(now: july4, requested: 27_050, existing: []) == 27_040)    // tomorrow's: ignored
        #expect(KvnoPolicy.reply(now: july4, requested: 27_040, existing: Array(27_040...27_049)) == nil)
    }

    @Test func backoffGrowsFromTenSecondsToADay() {
        let waits = (0...9).map(KvnoPolicy.backoffSeconds(afterSerial:))
        #expect(waits.first == 10)
        #expect(waits.last == 86_400)
        #expect(zip(waits, waits.dropFirst()).allSatisfy { $0 <= $1 })
    }

    @Test func lifetimeDefaults() {
        #expect(LifetimePolicy.defaultLifetime == 14 * 86_400)
        #expect(LifetimePolicy.allowed.contains(LifetimePolicy.defaultLifetime))
        #expect(!LifetimePolicy.allowed.contains(6 * 86_400))
        #expect(!LifetimePolicy.allowed.contains(32 * 86_400))
    }

    @Test(arguments: ["SERVICE.TEST", "A.B", "EXAMPLE-1.ORG", "PIXIE.DEMO.ARPA2.ORG", "X1.Y2.Z3"])
    func validRealms(realm: String) {
        #expect(RealmName.isValid(realm))
    }

    @Test(arguments: ["service.test", "TEST", "", ".TEST", "TEST.", "A..B", "-A.B", "A-.B", "A_B.C", "A B.C",
                      String(repeating: "A", count: 64) + ".B", String(repeating: "A.", count: 127) + "B"])
    func invalidRealms(realm: String) {
        #expect(!RealmName.isValid(realm))
    }

    @Test func realmDomainMapping() {
        #expect(RealmName.domain(of: "SERVICE.TEST") == "service.test")
        #expect(RealmName.realm(ofDomain: "service.test.") == "SERVICE.TEST")
        #expect(RealmName.realm(ofDomain: RealmName.domain(of: "PIXIE.DEMO.ARPA2.ORG")) == "PIXIE.DEMO.ARPA2.ORG")
    }
}

@Suite("KerberosTime")
struct KerberosTimeTests {
    @Test func knownInstants() throws {
        #expect(try KerberosTime("19700101000000Z").secondsSinceEpoch == 0)
        #expect(try KerberosTime("20190306121630Z").secondsSinceEpoch == 1_551_874_590)
        #expect(try KerberosTime("20000229235959Z").secondsSinceEpoch == 951_868_799)
        #expect(try KerberosTime("99991231235959Z").secondsSinceEpoch == KerberosTime.validRange.upperBound)
        #expect(try KerberosTime("00010101000000Z").secondsSinceEpoch == KerberosTime.validRange.lowerBound)
        #expect(try KerberosTime("19691231235959Z").secondsSinceEpoch == -1)
    }

    @Test(arguments: ["20190306121630", "20190306121630z", "2019030612163Z", "201903061216300Z", "20190306121630.5Z",
                      "20191306121630Z", "20190230121630Z", "20190229121630Z", "21000229000000Z", "20190306241630Z",
                      "20190306126030Z", "20190306121660Z", "00000101000000Z", "2019-3-6121630Z", "+0190306121630Z"])
    func rejectsMalformed(text: String) {
        #expect(throws: KerberosTime.FormatError.self) { try KerberosTime(text) }
    }

    @Test func roundTripsEverySecondPattern() {
        var random = SeededRandom(seed: 4120)
        for _ in 0..<5_000 {
            let seconds = Int64.random(in: KerberosTime.validRange, using: &random)
            let time = KerberosTime(secondsSinceEpoch: seconds)!
            #expect((try? KerberosTime(time.generalizedTime)) == time)
        }
    }

    @Test func addingClamps() {
        let end = KerberosTime(secondsSinceEpoch: KerberosTime.validRange.upperBound)!
        #expect(end.adding(seconds: 10) == end)
        #expect(end.adding(seconds: .max) == end)
        #expect(KerberosTime(secondsSinceEpoch: 0)!.adding(seconds: .min).secondsSinceEpoch == KerberosTime.validRange.lowerBound)
    }
}
