import CGnuTLS
import Foundation

/// GnuTLS's transport for a pool session: the TCP socket, never waiting
/// (GNUTLS_E_AGAIN goes back to the session's event loop, which waits for
/// the socket instead). Two additions serve the server role's LOCALID
/// check: the bytes read can be kept (`recording`), and a new session can be
/// fed those bytes again before the socket (`replay`), so one ClientHello
/// can be read by two GnuTLS sessions (see `PoolSession`).
final class SocketTransport {
    let fd: Int32
    /// Set once the session exists: where to report EAGAIN.
    var session: gnutls_session_t?
    private var replay: [UInt8]
    private var replayOffset = 0
    /// While true, every byte read from the socket is also kept in `recorded`.
    var recording = false
    private(set) var recorded: [UInt8] = []
    /// A ClientHello never needs more; a peer sending more is not replayed.
    static let recordingLimit = 64 * 1024
    private(set) var recordingOverflowed = false

    init(fd: Int32, replay: [UInt8] = []) {
        self.fd = fd
        self.replay = replay
    }

    /// Installs this transport on `session` (which must not outlive it).
    func install(on session: gnutls_session_t) {
        self.session = session
        gnutls_transport_set_ptr(session, Unmanaged.passUnretained(self).toOpaque())
        gnutls_transport_set_pull_function(session) { pointer, buffer, length in
            Unmanaged<SocketTransport>.fromOpaque(pointer!).takeUnretainedValue().pull(buffer, length)
        }
        gnutls_transport_set_push_function(session) { pointer, buffer, length in
            Unmanaged<SocketTransport>.fromOpaque(pointer!).takeUnretainedValue().push(buffer, length)
        }
        // Only asked with a timeout, which a GNUTLS_NONBLOCK session never sets:
        // "readable" lets the read itself answer (with EAGAIN if not).
        gnutls_transport_set_pull_timeout_function(session) { _, _ in 1 }
    }

    func takeRecorded() -> [UInt8] {
        defer { recorded = []; recording = false }
        return recorded
    }

    private func pull(_ buffer: UnsafeMutableRawPointer?, _ length: Int) -> Int {
        guard let buffer else { return fail(EINVAL) }
        if replayOffset < replay.count {
            let count = min(length, replay.count - replayOffset)
            replay.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress! + replayOffset, byteCount: count) }
            replayOffset += count
            if replayOffset == replay.count {
                replay = []
                replayOffset = 0
            }
            return count
        }
        while true {
            let n = recv(fd, buffer, length, Int32(MSG_DONTWAIT))
            if n >= 0 {
                if recording && n > 0 { keep(UnsafeRawBufferPointer(start: buffer, count: n)) }
                return n
            }
            if errno == EINTR { continue }
            return fail(errno)
        }
    }

    private func push(_ buffer: UnsafeRawPointer?, _ length: Int) -> Int {
        while true {
            let n = send(fd, buffer, length, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            return fail(errno)
        }
    }

    private func keep(_ bytes: UnsafeRawBufferPointer) {
        guard recorded.count + bytes.count <= Self.recordingLimit else {
            recordingOverflowed = true
            recording = false
            return
        }
        recorded.append(contentsOf: bytes)
    }

    private func fail(_ code: Int32) -> Int {
        let reported = code == EWOULDBLOCK ? EAGAIN : code
        if let session { gnutls_transport_set_errno(session, reported) }
        errno = reported
        return -1
    }
}
