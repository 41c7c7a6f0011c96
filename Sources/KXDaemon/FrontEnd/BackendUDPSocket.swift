import Glibc
import KXEventLoop

/// A UDP socket connected to krb5kdc, watched for as long as it lives (kept
/// in the backend's pool between requests, so a request costs no epoll
/// registration), with the retry timer of the exchange that owns it (set
/// per request without allocating). Datagrams and the timer go to that
/// exchange; datagrams that arrive while it is idle are read and dropped.
final class BackendUDPSocket {
    private(set) var fd: Int32
    private var watch: Watch?
    private var retryTimer: ReusableTimer?
    weak var owner: BackendUDPExchange?

    init(connectedTo backend: SocketAddress, loop: EventLoop) throws(RelayFailure) {
        do { fd = try Sockets.connectedUDP(to: backend) } catch { throw RelayFailure(connecting: error) }
        watch = loop.watch(fd: fd, events: .readable) { [weak self] _ in self?.readable() }
        retryTimer = loop.timer { [weak self] in self?.owner?.waited() }
    }

    deinit { close() }

    /// The owner's next retry or give-up, `seconds` from now.
    func setRetryTimer(after seconds: Double) { retryTimer?.set(after: seconds) }
    func clearRetryTimer() { retryTimer?.clear() }

    /// Idempotent.
    func close() {
        watch?.cancel()
        watch = nil
        retryTimer = nil
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    private func readable() {
        if let owner { return owner.receive() }
        guard fd >= 0 else { return }
        var discard: UInt8 = 0
        while recv(fd, &discard, 1, Int32(MSG_DONTWAIT)) >= 0 {}   // stray datagrams (and errors) of an idle socket
    }
}
