import KXOver
import Testing
@testable import KXDaemon

/// The memory that keeps krb5kdc from seeing repeats of oversized replies over UDP.
@Suite("KDC front end: oversized-reply memory")
struct FrontEndOversizedReplyTests {
    final class Clock {
        var now = 1000.0
    }

    @Test func remembersUntilTheLifetimeEnds() {
        let clock = Clock()
        let memory = OversizedReplyMemory(lifetime: 180, capacity: 10, realm: "FRONT.TEST", clock: { clock.now })
        let tooBig = KRBError.make(code: 52, realm: "FRONT.TEST", now: KerberosTime(secondsSinceEpoch: 0)!).derEncoded
        memory.remember([1, 2, 3], tooBigReply: tooBig)
        memory.remember([4, 5, 6], tooBigReply: nil)
        #expect(memory.contains([1, 2, 3]) && memory.contains([4, 5, 6]) && !memory.contains([7]))
        #expect(memory.tooBigReply(for: [1, 2, 3]) == tooBig)
        let made = memory.tooBigReply(for: [4, 5, 6]).flatMap { try? KRBError(derEncoded: $0) }
        #expect(made?.errorCode == 52 && made?.realm == "FRONT.TEST")
        clock.now += 100
        memory.remember([4, 5, 6], tooBigReply: nil)   // seen again: lives on
        clock.now += 81
        #expect(!memory.contains([1, 2, 3]) && memory.contains([4, 5, 6]))
        clock.now += 100
        #expect(!memory.contains([4, 5, 6]) && memory.count == 0)
    }

    @Test func staysWithinItsCapacity() {
        let clock = Clock()
        let memory = OversizedReplyMemory(lifetime: 180, capacity: 3, realm: "FRONT.TEST", clock: { clock.now })
        for byte in UInt8(0)..<10 {
            memory.remember([byte], tooBigReply: nil)
            clock.now += 1
        }
        #expect(memory.count == 3)
        #expect(memory.contains([9]) && memory.contains([7]) && !memory.contains([6]))
        for _ in 0..<100 { memory.remember([9], tooBigReply: nil) }
        #expect(memory.count == 3)
    }

    @Test func recognisesResponseTooBig() {
        let now = KerberosTime(secondsSinceEpoch: 0)!
        #expect(OversizedReplyMemory.isTooBig(KRBError.make(code: 52, realm: "A.TEST", now: now).derEncoded))
        #expect(!OversizedReplyMemory.isTooBig(KRBError.make(code: 25, realm: "A.TEST", now: now).derEncoded))
        #expect(!OversizedReplyMemory.isTooBig([0x7E, 0x00]) && !OversizedReplyMemory.isTooBig([]))
    }
}
