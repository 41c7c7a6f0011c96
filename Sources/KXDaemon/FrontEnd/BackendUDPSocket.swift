import Glibc
import KXEventLoop

/// A UDP socket connected to krb5kdc, watched for as long as it lives (kept
/// in the backend's pool between requests, so a request costs no epoll
/// registration). Datagrams go to the exchange that currently owns it; any
/// that arrive while it is idle are read and dropped.
final class BackendUDPSocket {
    private(set) var fd: Int32
    private var watch: Watch?
    weak var owner: BackendUDPExchange?

    init(connectedTo backend: SocketAddress, loop: EventLoop) throws(RelayFailure) {
        do { fd = try Sockets.connectedUDP(to: backend) } catch { throw RelayFailure(connecting: error) }
        watch = loop.watch(fd: fd, events: .readable) { [weak self] _ in self?.readable() }
    }

    deinit { close() }

    /// Idempotent.
    func close() {
        watch?.cancel()
        watch = nil
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
