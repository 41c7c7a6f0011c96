import Foundation
import KXEventLoop
import KXOver

extension Watch: Cancellable {}

/// The real clock, randomness and timers the records use, on one event loop.
public final class LoopPorts: Clock, RandomSource, Timers {
    private let loop: EventLoop

    public init(loop: EventLoop) {
        self.loop = loop
    }

    public var now: KerberosTime {
        KerberosTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!
    }

    /// The kernel CSPRNG (SystemRandomNumberGenerator is getrandom(2) on Linux).
    public func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    public func number(below bound: Int) -> Int {
        Int.random(in: 0..<max(bound, 1))
    }

    @discardableResult
    public func schedule(after seconds: Double, _ body: @escaping () -> Void) -> Cancellable {
        loop.schedule(after: seconds, body)
    }

    public var uptime: Double { MonotonicClock.seconds() }
}
