import Foundation
import KXEventLoop
import KXOver

/// DANE data for a pool from the core's `Resolver` port: a pool session
/// asks, the lookup runs on the resolver's event loop (kxoverd's own
/// validating resolver, sharing its cache, or one on a thread of its own in
/// tlspoold), and the answer goes back to the session without anyone
/// waiting, at the latest when `timeout` passes. The resolver's DNSSEC
/// verdict decides: only a secure answer carries records.
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

    public func tlsa(forHost host: String, completion: @escaping @Sendable (TLSALookup) -> Void) {
        let resolver = self.resolver, timeout = self.timeout
        let name = KXOverLookups.tlsaName(host)
        // The answer or the bound, whichever comes first; the other is dropped
        // (the resolver's own query timeout ends a late query itself).
        let waiting = Mutex<(@Sendable (TLSALookup) -> Void)?>(completion)
        let answer: @Sendable (TLSALookup) -> Void = { lookup in
            waiting.withLock { pending in defer { pending = nil }; return pending }?(lookup)
        }
        executor.execute {
            resolver.value.query(name, .tlsa) { result in answer(Self.lookup(result, name: name)) }
        }
        Self.timers.asyncAfter(deadline: .now() + timeout) {
            answer(.failed("TLSA lookup for \(host) did not finish within \(timeout) s"))
        }
    }

    private static let timers = DispatchQueue(label: "kxover.tlsa-bounds")

    private static func lookup(_ result: Result<DNSAnswer, DNSFailure>, name: String) -> TLSALookup {
        switch result {
        case .failure(let failure):
            return .failed("\(name) TLSA: \(failure)")
        case .success(let answer):
            switch answer.security {
            case .bogus(let reason): return .bogus("\(name) TLSA: \(reason)")
            case .insecure: return .insecure
            case .secure:
                return .secure(answer.rdata.compactMap(DNSRecords.tlsa).map {
                    TLSARecord(usage: $0.usage, selector: $0.selector, matchingType: $0.matchingType, data: $0.data)
                })
            }
        }
    }
}
