import Foundation
import Testing
import KXEventLoop

@Suite("event loop")
struct EventLoopTests {
    @Test func timersFireInDeadlineOrder() throws {
        let loop = try EventLoop()
        var fired: [Int] = []
        loop.schedule(after: 0.03) { fired.append(3) }
        loop.schedule(after: 0.01) { fired.append(1) }
        loop.schedule(after: 0.02) { fired.append(2) }
        #expect(loop.run(until: { fired.count == 3 }, timeout: 2))
        #expect(fired == [1, 2, 3])
    }

    @Test func cancelledTimerNeverFires() throws {
        let loop = try EventLoop()
        var fired = false, other = false
        let timer = loop.schedule(after: 0.01) { fired = true }
        timer.cancel()
        timer.cancel()   // idempotent
        loop.schedule(after: 0.03) { other = true }
        #expect(loop.run(until: { other }, timeout: 2))
        #expect(!fired)
    }

    /// A dropped timer still fires (fire and forget); one held with
    /// @CancelledWhenReplaced is cancelled when replaced or set to nil.
    @Test func aHeldTimerIsCancelledWhenReplaced() throws {
        final class Holder { @CancelledWhenReplaced var timer: Watch? }
        let loop = try EventLoop()
        var fired: [String] = []
        let holder = Holder()
        holder.timer = loop.schedule(after: 0.01) { fired.append("replaced") }
        holder.timer = loop.schedule(after: 0.01) { fired.append("dropped") }
        holder.timer = nil
        var plain: Watch? = loop.schedule(after: 0.01) { fired.append("plain") }
        plain = nil
        _ = plain
        loop.schedule(after: 0.05) { fired.append("last") }
        #expect(loop.run(until: { fired.contains("last") }, timeout: 2))
        #expect(fired == ["plain", "last"])
    }

    /// A reusable timer fires once per setting, a new setting replaces the
    /// pending one, a cleared one stays quiet, it can be set again from its
    /// own body, and dropping it cancels it.
    @Test func aReusableTimerFiresOncePerSetting() throws {
        let loop = try EventLoop()
        var fired: [String] = []
        var phase = "first"
        var timer: ReusableTimer? = nil
        timer = loop.timer {
            fired.append(phase)
            if phase == "first" { phase = "again"; timer?.set(after: 0.01) }
        }
        timer?.set(after: 5)
        timer?.set(after: 0.01)   // replaces the 5 s setting
        #expect(timer?.isSet == true)
        #expect(loop.run(until: { fired.count == 2 }, timeout: 2))
        #expect(fired == ["first", "again"])
        #expect(timer?.isSet == false)
        phase = "cleared"
        timer?.set(after: 0.01)
        timer?.clear()
        #expect(timer?.isSet == false)
        var dropped: ReusableTimer? = loop.timer { fired.append("dropped") }
        dropped?.set(after: 0.01)
        dropped = nil
        _ = dropped
        loop.schedule(after: 0.05) { fired.append("last") }
        #expect(loop.run(until: { fired.contains("last") }, timeout: 2))
        #expect(fired == ["first", "again", "last"])
    }

    @Test func fdReadinessAndCancellation() throws {
        let loop = try EventLoop()
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        var received: [UInt8] = []
        let watch = loop.watch(fd: fds[0], events: .readable) { events in
            #expect(events.contains(.readable))
            var buffer = [UInt8](repeating: 0, count: 16)
            let n = read(fds[0], &buffer, 16)
            if n > 0 { received += buffer[0..<n] }
        }
        _ = write(fds[1], "abc", 3)
        #expect(loop.run(until: { received.count == 3 }, timeout: 2))
        watch.cancel()
        _ = write(fds[1], "d", 1)
        loop.run(until: { false }, timeout: 0.05)
        #expect(received == Array("abc".utf8))
    }

    @Test func cancelReleasesTheHandler() throws {
        final class Token {}
        let loop = try EventLoop()
        weak var weakToken: Token?
        var watch: Watch?
        do {
            let token = Token()
            weakToken = token
            watch = loop.schedule(after: 10) { _ = token }
        }
        #expect(weakToken != nil)
        watch?.cancel()
        #expect(weakToken == nil)
    }

    @Test func otherThreadsPostInOrder() throws {
        let loop = try EventLoop()
        let executor = loop.executor
        var seen: [Int] = []
        let threads = 8, each = 200
        let start = DispatchSemaphore(value: 0)
        for t in 0..<threads {
            Thread.detachNewThread {
                start.wait()
                for i in 0..<each { executor.execute { [t, i] in MainActorFreeBox.record(t * 1_000 + i) } }
            }
        }
        MainActorFreeBox.reset()
        for _ in 0..<threads { start.signal() }
        #expect(loop.run(until: { MainActorFreeBox.count == threads * each }, timeout: 5))
        seen = MainActorFreeBox.values
        // Per thread, posts keep their order.
        for t in 0..<threads {
            let mine = seen.filter { $0 / 1_000 == t }.map { $0 % 1_000 }
            #expect(mine == Array(0..<each))
        }
    }

    @Test func signalsArriveOnTheLoop() throws {
        let loop = try EventLoop()
        var count = 0
        let watch = loop.onSignal(SIGUSR2) { count += 1 }
        defer { watch.cancel() }
        loop.schedule(after: 0.01) { kill(getpid(), SIGUSR2) }
        #expect(loop.run(until: { count == 1 }, timeout: 2))
    }
}

/// Records posted work (touched only on the loop thread, read after the loop returns).
enum MainActorFreeBox {
    nonisolated(unsafe) static var values: [Int] = []
    static var count: Int { values.count }
    static func record(_ v: Int) { values.append(v) }
    static func reset() { values = [] }
}
