import Foundation
import KXDNS
import KXEventLoop
import KXOver
import Testing

/// A resolver on a loop thread of its own (tlspoold's): other threads reach
/// it only through the door `serve` builds there.
@Suite("resolver on its own thread")
struct ResolverThreadTests {
    @Test func otherThreadsGetValidatedAnswersThroughTheDoor() throws {
        let door = try ResolverThread.start(configuration: TestZone.shared.configuration, name: "test-resolver") { resolver, executor in
            Door(resolver: LoopBound(resolver, executor: executor), executor: executor)
        }
        let answer = try #require(door.query(KXOverLookups.tlsaName("kdc.service.test"), .tlsa))
        #expect(answer.security == .secure)
        let expected = try TestZone.shared.tlsaRecord("service").lowercased()
        #expect(answer.rdata.compactMap(DNSRecords.tlsa).map(\.description) == [expected])
    }

    @Test func aResolverThatCannotStartFailsTheStart() {
        var configuration = TestZone.shared.configuration
        configuration.options.append(.init("no-such-option:", "1"))
        #expect(throws: DNSFailure.self) {
            try ResolverThread.start(configuration: configuration, name: "test-resolver") { _, _ in 0 }
        }
    }
}

/// Blocks the calling thread until the loop answers, bounded.
private struct Door: Sendable {
    let resolver: LoopBound<any Resolver>
    let executor: LoopExecutor

    func query(_ name: String, _ type: DNSRecordType) -> DNSAnswer? {
        let done = DispatchSemaphore(value: 0)
        let answer = Mutex<DNSAnswer?>(nil)
        executor.execute { [resolver] in
            resolver.value.query(name, type) { result in
                answer.withLock { $0 = try? result.get() }
                done.signal()
            }
        }
        return done.wait(timeout: .now() + 10) == .success ? answer.withLock { $0 } : nil
    }
}
