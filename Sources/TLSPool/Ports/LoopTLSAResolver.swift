import Foundation
import KXEventLoop
import KXOver

/// DANE data for a pool from the core's `Resolver` port: the pool's session
/// threads ask here, the lookup runs on the resolver's event loop (kxoverd's
/// own validating resolver, sharing its cache, or one on a thread of its own
/// in tlspoold), and the thread waits for the answer, bounded. The resolver's
/// DNSSEC verdict decides: only a secure answer carries records.
public final class LoopTLSAResolver: TLSAResolver, @unchecked Sendable {
    // @unchecked: `resolver` is only touched on the loop, via the executor.
    private let executor: LoopExecutor
    private let resolver: LoopBound<Resolver>
    private let timeout: Double

    public init(resolver: Resolver, executor: LoopExecutor, timeout: Double) {
        self.executor = executor
        self.resolver = LoopBound(resolver, executor: executor)
        self.timeout = timeout
    }

    public func tlsa(forHost host: String) -> TLSALookup {
        let done = DispatchSemaphore(value: 0)
        let answer = Mutex<TLSALookup?>(nil)
        let resolver = self.resolver
        let name = KXOverLookups.tlsaName(host)
        executor.execute {
            resolver.value.query(name, .tlsa) { result in
                let lookup: TLSALookup
                switch result {
                case .failure(let failure):
                    lookup = .failed("\(name) TLSA: \(failure)")
                case .success(let answer):
                    switch answer.security {
                    case .bogus(let reason): lookup = .bogus("\(name) TLSA: \(reason)")
                    case .insecure: lookup = .insecure
                    case .secure:
                        lookup = .secure(answer.rdata.compactMap(DNSRecords.tlsa).map {
                            TLSARecord(usage: $0.usage, selector: $0.selector, matchingType: $0.matchingType, data: $0.data)
                        })
                    }
                }
                answer.withLock { $0 = lookup }
                done.signal()
            }
        }
        guard done.wait(timeout: .now() + timeout) == .success else {
            return .failed("TLSA lookup for \(host) did not finish within \(timeout) s")
        }
        return answer.withLock { $0 } ?? .failed("no TLSA answer for \(host)")
    }
}
