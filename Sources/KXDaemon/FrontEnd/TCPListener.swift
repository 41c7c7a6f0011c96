import Glibc
import KXEventLoop

/// One public TCP socket. Accepts while the front end is under its
/// connection cap; pauses (rather than spinning on a level-triggered
/// readiness) when the cap is reached or descriptors run out.
final class TCPListener {
    let fd: Int32
    let local: SocketAddress
    private unowned let context: FrontEndContext
    private var watch: Watch?
    private var resumeTimer: Watch?
    private var isClosed = false

    /// Connections accepted per wake-up, so UDP is not starved by a storm.
    private static let acceptBurst = 32
    /// Pause after EMFILE/ENFILE/ENOBUFS: the backlog keeps waiting clients.
    private static let outOfResourcesPause = 0.1

    init(fd: Int32, local: SocketAddress, context: FrontEndContext) {
        self.fd = fd
        self.local = local
        self.context = context
    }

    func start() { resume() }

    func pause() {
        watch?.cancel()
        watch = nil
    }

    func resume() {
        guard !isClosed, watch == nil else { return }
        resumeTimer?.cancel()
        resumeTimer = nil
        watch = context.loop.watch(fd: fd, events: .readable) { [weak self] _ in self?.acceptSome() }
    }

    func close() {
        isClosed = true
        pause()
        resumeTimer?.cancel()
        resumeTimer = nil
        Glibc.close(fd)
    }

    private func acceptSome() {
        for _ in 0..<Self.acceptBurst {
            guard context.canAcceptConnection else { return }
            let (client, peer, error) = Sockets.accept(fd)
            if client >= 0 {
                guard let peer else {
                    Glibc.close(client)   // not an IP peer; cannot happen on an inet socket
                    continue
                }
                context.accepted(fd: client, peer: peer, local: local)
                continue
            }
            switch error {
            case EAGAIN, EWOULDBLOCK:
                return
            case ECONNABORTED, EPROTO, EPERM:
                continue   // that client gave up or was filtered; the next may be fine
            default:
                // EMFILE, ENFILE, ENOBUFS, ENOMEM: back off instead of spinning.
                context.counters.acceptPauses += 1
                pause()
                resumeTimer = context.loop.schedule(after: Self.outOfResourcesPause) { [weak self] in
                    guard let self, self.context.canAcceptConnection else { return }
                    self.resume()
                }
                return
            }
        }
    }
}
