import Foundation

/// After a fatal alert on a socket the peer may still be writing to:
/// half-close, then read and drop until the peer closes, the bound passes,
/// or the session is cancelled. Closing with unread input would send a
/// reset, and a reset can destroy the alert before the peer reads it.
enum Linger {
    /// How long a refused peer gets to read our alert and close.
    static let seconds = 2.0

    static func drain(_ fd: Int32, cancelFD: Int32, until deadline: Date) {
        shutdown(fd, Int32(SHUT_WR))
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return }
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: cancelFD, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, Int32(min(left * 1000, 60_000).rounded(.up)))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0, fds[1].revents == 0 else { return }
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) { return }
        }
    }
}
