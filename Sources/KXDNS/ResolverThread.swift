import Foundation
import KXEventLoop
import KXOver

/// A validating resolver on an event loop of its own, on a dedicated thread,
/// for a process that runs no loop (tlspoold) or whose loop must not share it
/// (a benchmark). `serve` runs on that thread with the resolver (behind a
/// `SecureAnswerCache` for what exchanges ask) and the loop's executor and
/// returns the door the rest of the process uses (for a TLS Pool, its TLSA
/// source). The thread lives as long as the process.
public enum ResolverThread {
    public static func start<Door: Sendable>(configuration: ResolverConfiguration, name: String,
                                             serve: @escaping @Sendable (Resolver, LoopExecutor) -> Door) throws -> Door {
        let ready = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<Door, Error>?>(nil)
        let thread = Thread {
            do {
                let loop = try EventLoop()
                let resolver = SecureAnswerCache(upstream: try UnboundResolver(configuration: configuration, loop: loop),
                                                 loop: loop, rule: .exchangeRecords)
                outcome.withLock { $0 = .success(serve(resolver, loop.executor)) }
                ready.signal()
                withExtendedLifetime(resolver) { loop.run() }
            } catch {
                outcome.withLock { $0 = .failure(error) }
                ready.signal()
            }
        }
        thread.name = name
        thread.start()
        ready.wait()
        return try outcome.withLock { $0! }.get()
    }
}
