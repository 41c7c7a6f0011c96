import Foundation
import KXEventLoop

/// One of the pool's event-loop threads. Pool connections and sessions are
/// spread over a few lanes (about one per core) and run non-blocking on
/// theirs, so the pool's thread count does not grow with its load.
///
/// The loop and everything registered on it belong to the lane's thread:
/// other threads only `execute` work there.
final class PoolLane: @unchecked Sendable {
    /// Touched only on the lane's thread (or before it starts).
    let loop: EventLoop
    private let executor: LoopExecutor
    /// Scratch space for the relays on this lane: one thread, one buffer.
    let scratch: UnsafeMutableRawBufferPointer

    static let scratchSize = 16 * 1024

    init() throws {
        loop = try EventLoop()
        executor = loop.executor
        scratch = .allocate(byteCount: Self.scratchSize, alignment: 16)
    }

    deinit {
        scratch.initializeMemory(as: UInt8.self, repeating: 0)
        scratch.deallocate()
    }

    /// Queues `work` for the lane's thread (dropped once the lane has stopped).
    func execute(_ work: @escaping @Sendable () -> Void) {
        executor.execute(work)
    }

    var isCurrent: Bool { executor.inLoopThread }

    /// Runs `work` now when called on this lane (from its event handlers,
    /// never from inside a session step), else queues it: a hop saved for
    /// a connection and a session that happen to share a lane.
    func perform(_ work: @escaping @Sendable () -> Void) {
        if isCurrent { work() } else { executor.execute(work) }
    }

    /// The thread body: runs the loop until `stop`. Work queued afterwards
    /// is dropped (a session it would cancel was cancelled before the stop).
    func run() {
        loop.run()
        loop.refuseFurtherWork()
    }

    /// Ends `run` once the work queued before this call has run.
    func stop() {
        execute { [self] in loop.stop() }
    }

    /// How many lanes a pool runs: one per core, at least two (a slow
    /// handshake step on one lane does not hold up the other), at most eight.
    static var defaultCount: Int {
        min(max(ProcessInfo.processInfo.activeProcessorCount, 2), 8)
    }
}
