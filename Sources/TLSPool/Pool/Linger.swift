import Foundation
import KXEventLoop

/// After a fatal alert on a socket the peer may still be writing to:
/// half-close, then read and drop until the peer closes or the bound
/// passes, then `done`. Closing with unread input would send a reset, and a
/// reset can destroy the alert before the peer reads it. Runs on the
/// session's lane, without waiting on it.
final class Linger {
    /// How long a refused peer gets to read our alert and close.
    static let seconds = 2.0

    private let fd: Int32
    private let scratch: UnsafeMutableRawBufferPointer
    private var done: (() -> Void)?
    @CancelledWhenReplaced private var watch: Watch?
    @CancelledWhenReplaced private var timer: Watch?

    init(fd: Int32, loop: EventLoop, until deadline: Date, scratch: UnsafeMutableRawBufferPointer, done: @escaping () -> Void) {
        self.fd = fd
        self.scratch = scratch
        self.done = done
        shutdown(fd, Int32(SHUT_WR))
        let left = deadline.timeIntervalSinceNow
        // Deferred even when nothing is left: `done` must not run inside init.
        timer = loop.schedule(after: max(left, 0)) { [weak self] in self?.finish() }
        if left > 0 {
            watch = loop.watch(fd: fd, events: .readable) { [weak self] _ in self?.drain() }
        }
    }

    /// Stops without calling `done`.
    func stop() {
        done = nil
        watch = nil
        timer = nil
    }

    private func drain() {
        while true {
            let n = recv(fd, scratch.baseAddress, scratch.count, Int32(MSG_DONTWAIT))
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            return finish()   // the peer closed (or the socket failed)
        }
    }

    private func finish() {
        let notify = done
        stop()
        notify?()
    }
}
