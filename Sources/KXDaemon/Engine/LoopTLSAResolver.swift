import Foundation
import KXDNS
import KXEventLoop
import KXOver
import TLSPool

/// DANE data for the embedded TLS Pool: its session threads ask here, the
/// lookup runs on the event loop through the daemon's validating resolver
/// (sharing its cache), and the thread waits for the answer, bounded.
final class LoopTLSAResolver: TLSAResolver, @unchecked Sendable {
    // @unchecked: `resolver` is only touched on the loop, via the executor.
    private let executor: LoopExecutor
    private let resolver: LoopBound<Resolver>
    private let timeout: Double

    init(resolver: Resolver, executor: LoopExecutor, timeout: Double) {
        self.executor = executor
        self.resolver = LoopBound(resolver, executor: executor)
        self.timeout = timeout
    }

    func tlsa(forHost host: String) -> TLSALookup {
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

/// A DNSSEC-validating TLSA source for a pool outside kxoverd (tlspoold): its
/// own event loop on a dedicated thread, owning an UnboundResolver.
public enum DNSSECTLSAResolver {
    public static func start(configuration: ResolverConfiguration) throws -> any TLSAResolver {
        let ready = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<LoopTLSAResolver, Error>?>(nil)
        let thread = Thread {
            do {
                let loop = try EventLoop()
                let resolver = try UnboundResolver(configuration: configuration, loop: loop)
                outcome.withLock { $0 = .success(LoopTLSAResolver(resolver: resolver, executor: loop.executor,
                                                                 timeout: configuration.queryTimeout + 1)) }
                ready.signal()
                withExtendedLifetime(resolver) { loop.run() }
            } catch {
                outcome.withLock { $0 = .failure(error) }
                ready.signal()
            }
        }
        thread.name = "tlsa-resolver"
        thread.start()
        ready.wait()
        return try outcome.withLock { $0! }.get()
    }
}
