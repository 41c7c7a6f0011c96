import CGnuTLS
import Foundation

/// Copies between the TLS session and the application's plaintext socket
/// until both directions are closed, either side fails, the session is
/// cancelled, or the grace period after the first half-close runs out
/// (spec §6.3). Reads from either side are bounded to one TLS record.
/// `run` says how it ended, so the session can tell a peer's alert apart.
struct Relay {
    enum End: Equatable {
        case closed, cancelled, graceExpired, plainFailed
        /// A GnuTLS error on the TLS side, e.g. GNUTLS_E_FATAL_ALERT_RECEIVED.
        case tlsFailed(Int32)
    }

    let tls: TLSSession
    let tlsLock: NSLock
    let cryptFD: Int32
    let plainFD: Int32
    let cancelFD: Int32
    let graceSeconds: Double

    static let chunk = 16 * 1024

    func run() -> End {
        tls.useNonBlockingReads()   // the relay polls; GnuTLS must never block holding the lock
        var buffer = [UInt8](repeating: 0, count: Self.chunk)
        defer { buffer.wipe() }
        var plainOpen = true, tlsOpen = true
        var halfClosedAt: Date?
        while plainOpen || tlsOpen {
            let pending = withTLS { $0.pendingBytes } ?? 0
            var fds = [pollfd(fd: plainFD, events: plainOpen ? Int16(POLLIN) : 0, revents: 0),
                       pollfd(fd: cryptFD, events: tlsOpen ? Int16(POLLIN) : 0, revents: 0),
                       pollfd(fd: cancelFD, events: Int16(POLLIN), revents: 0)]
            var timeout: Int32 = -1
            if pending > 0 { timeout = 0 }
            if let halfClosedAt {
                let left = graceSeconds - Date().timeIntervalSince(halfClosedAt)
                if left <= 0 { return .graceExpired }
                if timeout != 0 { timeout = Int32(min(left * 1000, Double(Int32.max))) }
            }
            let ready = poll(&fds, 3, timeout)
            if ready < 0 && errno != EINTR { return .plainFailed }
            if fds[2].revents != 0 { return .cancelled }

            if tlsOpen && (pending > 0 || fds[1].revents != 0) {
                switch tlsToPlain(&buffer) {
                case .more: break
                case .closed:
                    tlsOpen = false
                    shutdown(plainFD, Int32(SHUT_WR))
                    halfClosedAt = halfClosedAt ?? Date()
                case .failed(let end): return end
                }
            }
            if plainOpen && fds[0].revents != 0 {
                switch plainToTLS(&buffer) {
                case .more: break
                case .closed:
                    plainOpen = false
                    _ = withTLS { $0.closeWrite() }
                    // The application closed its end entirely (POLLHUP), not
                    // just its writing half: nobody can read what the peer
                    // still sends, so the session ends now rather than after
                    // the grace period (a silent peer would hold it that long).
                    if fds[0].revents & Int16(POLLHUP) != 0 { return .closed }
                    halfClosedAt = halfClosedAt ?? Date()
                case .failed(let end): return end
                }
            }
        }
        return .closed
    }

    private enum Step { case more, closed, failed(End) }

    private func tlsToPlain(_ buffer: inout [UInt8]) -> Step {
        let received = buffer.withUnsafeMutableBytes { bytes in withTLS { $0.receive(into: bytes) } } ?? Int(GNUTLS_E_INVALID_SESSION)
        if received == 0 { return .closed }
        if received < 0 {
            let code = Int32(received)
            return code == GNUTLS_E_AGAIN || code == GNUTLS_E_INTERRUPTED || code == GNUTLS_E_REHANDSHAKE ? .more : .failed(.tlsFailed(code))
        }
        return writeAll(buffer[0..<received]) ? .more : .failed(.plainFailed)
    }

    private func plainToTLS(_ buffer: inout [UInt8]) -> Step {
        let count = buffer.withUnsafeMutableBytes { recv(plainFD, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if count == 0 { return .closed }
        if count < 0 { return errno == EAGAIN || errno == EINTR ? .more : .failed(.plainFailed) }
        var offset = 0
        while offset < count {
            let sent = buffer.withUnsafeBytes { bytes in
                withTLS { $0.send(UnsafeRawBufferPointer(rebasing: bytes[offset..<count])) }
            } ?? Int(GNUTLS_E_INVALID_SESSION)
            if sent > 0 { offset += sent; continue }
            if sent == Int(GNUTLS_E_AGAIN) || sent == Int(GNUTLS_E_INTERRUPTED) { continue }
            return .failed(.tlsFailed(Int32(truncatingIfNeeded: sent)))
        }
        return .more
    }

    /// Writes to the plaintext socket, waiting (cancellably) for room.
    private func writeAll(_ bytes: ArraySlice<UInt8>) -> Bool {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let n = bytes.withUnsafeBytes { raw in
                send(plainFD, raw.baseAddress! + (offset - bytes.startIndex), bytes.endIndex - offset, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            }
            if n > 0 { offset += n; continue }
            guard n < 0, errno == EAGAIN || errno == EINTR else { return false }
            var fds = [pollfd(fd: plainFD, events: Int16(POLLOUT), revents: 0), pollfd(fd: cancelFD, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, -1) > 0 || errno == EINTR, fds[1].revents == 0 else { return false }
        }
        return true
    }

    private func withTLS<R>(_ body: (TLSSession) -> R) -> R? {
        tlsLock.lock()
        defer { tlsLock.unlock() }
        return body(tls)
    }
}
