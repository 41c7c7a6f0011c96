import CGnuTLS
import Foundation
import KXEventLoop

/// Copies between the TLS session and the application's plaintext socket,
/// driven by socket readiness on the session's lane, until both directions
/// are closed, either side fails, the session is cancelled, or the grace
/// period after the first half-close runs out (spec §6.3).
///
/// Flow control: while one side cannot take what the other sent, reading
/// from the other side pauses (at most one TLS record is held per direction).
/// `onEnd` is told once how it ended, so the session can tell a peer's alert
/// apart.
final class Relay {
    enum End: Equatable {
        case closed, cancelled, graceExpired, plainFailed
        /// A GnuTLS error on the TLS side, e.g. GNUTLS_E_FATAL_ALERT_RECEIVED.
        case tlsFailed(Int32)
    }

    private let tls: TLSSession
    private let tlsLock: NSLock
    private let cryptFD: Int32
    private let plainFD: Int32
    private let lane: PoolLane
    private let graceSeconds: Double
    private var onEnd: ((End) -> Void)?

    private var plainOpen = true, tlsOpen = true
    /// Decrypted bytes the plaintext socket had no room for yet.
    private var toPlain: [UInt8] = []
    private var toPlainOffset = 0
    /// Bytes GnuTLS took with GNUTLS_E_AGAIN: the same call must be repeated.
    private var toTLS: [UInt8] = []
    private var toTLSOffset = 0
    /// close_notify still waiting for room on the TCP socket.
    private var closeNotifyPending = false
    @CancelledWhenReplaced private var plainWatch: Watch?
    @CancelledWhenReplaced private var cryptWatch: Watch?
    private var plainEvents: EventLoop.Events = [], cryptEvents: EventLoop.Events = []
    @CancelledWhenReplaced private var graceTimer: Watch?

    /// The continuation of a turn cut short while GnuTLS still held data.
    @CancelledWhenReplaced private var nextTurn: Watch?
    /// Work done per wake-up before giving the lane's other sessions a turn.
    static let recordsPerTurn = 16

    init(tls: TLSSession, tlsLock: NSLock, cryptFD: Int32, plainFD: Int32, lane: PoolLane, graceSeconds: Double,
         onEnd: @escaping (End) -> Void) {
        self.tls = tls
        self.tlsLock = tlsLock
        self.cryptFD = cryptFD
        self.plainFD = plainFD
        self.lane = lane
        self.graceSeconds = graceSeconds
        self.onEnd = onEnd
    }

    func start() {
        // The handshake may have left application data inside GnuTLS already.
        if withTLS({ $0.pendingBytes }) > 0 { fromTLS() } else { updateWatches() }
    }

    /// Ends the relay and tells `onEnd` (once).
    func stop(_ end: End) {
        let notify = onEnd
        dismiss()
        notify?(end)
    }

    /// Ends the relay without telling anyone (the session is already going).
    func dismiss() {
        onEnd = nil
        plainWatch = nil
        cryptWatch = nil
        graceTimer = nil
        nextTurn = nil
        toPlain.wipe()
        toTLS.wipe()
        toPlain = []
        toTLS = []
    }

    private var isStopped: Bool { onEnd == nil }

    // MARK: - TLS → plaintext

    private func fromTLS() {
        var turns = 0
        while tlsOpen && toPlain.isEmpty && !isStopped {
            if turns == Self.recordsPerTurn {
                // Still more inside GnuTLS, where no socket event will tell us.
                if withTLS({ $0.pendingBytes }) > 0 { nextTurn = lane.loop.schedule(after: 0) { [weak self] in self?.fromTLS() } }
                break
            }
            turns += 1
            let scratch = lane.scratch
            let received = withTLS { $0.receive(into: scratch) }
            if received == 0 {
                tlsOpen = false
                shutdown(plainFD, Int32(SHUT_WR))
                startGrace()
                break
            }
            if received < 0 {
                let code = Int32(received)
                if code == GNUTLS_E_AGAIN || code == GNUTLS_E_INTERRUPTED || code == GNUTLS_E_REHANDSHAKE {
                    if withTLS({ $0.pendingBytes }) > 0 { continue }
                    break
                }
                return stop(.tlsFailed(code))
            }
            let bytes = UnsafeRawBufferPointer(rebasing: scratch[0..<received])
            let sent = Self.sendSome(plainFD, bytes)
            if sent < 0 {
                memset(scratch.baseAddress!, 0, received)
                return stop(.plainFailed)
            }
            if sent < received {
                toPlain = Array(bytes[sent...])
                toPlainOffset = 0
            }
            memset(scratch.baseAddress!, 0, received)
        }
        finishTurn()
    }

    private func flushToPlain() {
        let left = toPlain.count - toPlainOffset
        let sent = toPlain.withUnsafeBytes { Self.sendSome(plainFD, UnsafeRawBufferPointer(rebasing: $0[toPlainOffset...])) }
        if sent < 0 { return stop(.plainFailed) }
        toPlainOffset += sent
        if sent == left {
            toPlain.wipe()
            toPlain = []
            toPlainOffset = 0
            return fromTLS()   // reading from TLS may go on
        }
        finishTurn()
    }

    // MARK: - plaintext → TLS

    private func fromPlain() {
        var turns = 0
        while plainOpen && toTLS.isEmpty && !closeNotifyPending && !isStopped && turns < Self.recordsPerTurn {
            turns += 1
            let scratch = lane.scratch
            let count = recv(plainFD, scratch.baseAddress, scratch.count, Int32(MSG_DONTWAIT))
            if count == 0 {
                plainOpen = false
                sendCloseNotify()
                // The application closed its end entirely (POLLHUP), not just
                // its writing half: nobody can read what the peer still
                // sends, so the session ends now rather than after the grace
                // period (a silent peer would hold it that long).
                if Self.hungUp(plainFD) { return stop(.closed) }
                startGrace()
                break
            }
            if count < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { break }
                return stop(.plainFailed)
            }
            toTLS = Array(UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
            toTLSOffset = 0
            memset(scratch.baseAddress!, 0, count)
            if !flushToTLS() { return }
        }
        finishTurn()
    }

    /// Sends what is held for TLS; false once the relay has stopped.
    private func flushToTLS() -> Bool {
        while toTLSOffset < toTLS.count {
            let sent = toTLS.withUnsafeBytes { bytes in
                withTLS { $0.send(UnsafeRawBufferPointer(rebasing: bytes[toTLSOffset...])) }
            }
            if sent > 0 { toTLSOffset += sent; continue }
            if sent == Int(GNUTLS_E_AGAIN) || sent == Int(GNUTLS_E_INTERRUPTED) { return true }   // wait for room
            stop(.tlsFailed(Int32(truncatingIfNeeded: sent)))
            return false
        }
        toTLS.wipe()
        toTLS = []
        toTLSOffset = 0
        return true
    }

    private func sendCloseNotify() {
        closeNotifyPending = withTLS { $0.closeWrite() } == GNUTLS_E_AGAIN
    }

    // MARK: - Bookkeeping

    /// After each turn: done when both sides are closed, else watch what
    /// each socket is needed for now.
    private func finishTurn() {
        guard !isStopped else { return }
        if !plainOpen && !tlsOpen && toPlain.isEmpty && toTLS.isEmpty && !closeNotifyPending { return stop(.closed) }
        updateWatches()
    }

    private func updateWatches() {
        var plain: EventLoop.Events = [], crypt: EventLoop.Events = []
        if !toPlain.isEmpty { plain.insert(.writable) } else if tlsOpen { crypt.insert(.readable) }
        if !toTLS.isEmpty || closeNotifyPending { crypt.insert(.writable) } else if plainOpen { plain.insert(.readable) }
        if plain != plainEvents || plainWatch == nil {
            plainEvents = plain
            plainWatch = plain.isEmpty ? nil : lane.loop.watch(fd: plainFD, events: plain) { [unowned self] events in plainReady(events) }
        }
        if crypt != cryptEvents || cryptWatch == nil {
            cryptEvents = crypt
            cryptWatch = crypt.isEmpty ? nil : lane.loop.watch(fd: cryptFD, events: crypt) { [unowned self] events in cryptReady(events) }
        }
    }

    private func plainReady(_ events: EventLoop.Events) {
        if events.contains(.writable) && !toPlain.isEmpty { return flushToPlain() }
        if events.contains(.readable) { fromPlain() }
    }

    private func cryptReady(_ events: EventLoop.Events) {
        if events.contains(.writable) {
            if closeNotifyPending {
                sendCloseNotify()
            } else if !toTLS.isEmpty {
                guard flushToTLS() else { return }
                if toTLS.isEmpty { return fromPlain() }
            }
        }
        if events.contains(.readable) { return fromTLS() }
        finishTurn()
    }

    private func startGrace() {
        guard graceTimer == nil else { return }
        graceTimer = lane.loop.schedule(after: graceSeconds) { [unowned self] in
            graceTimer = nil
            stop(.graceExpired)
        }
    }

    // MARK: - Helpers

    /// Bytes sent to `fd` without waiting (0 when it has no room), -1 on error.
    private static func sendSome(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return offset }
            return -1
        }
        return offset
    }

    /// Whether the peer of `fd` closed entirely (not only its writing half).
    private static func hungUp(_ fd: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: 0, revents: 0)
        return poll(&entry, 1, 0) > 0 && entry.revents & Int16(POLLHUP) != 0
    }

    private func withTLS<R>(_ body: (TLSSession) -> R) -> R {
        tlsLock.lock()
        defer { tlsLock.unlock() }
        return body(tls)
    }
}
