import Foundation
import KXEventLoop
import KXOver

/// One end of the keeper channel (a stream socketpair) on an event loop:
/// whole frames in, whole frames out, non-blocking. The bytes of frames that
/// carried keys are zeroised once sent or read.
final class FramedChannel {
    let fd: Int32
    private let loop: EventLoop
    private var reader = KeeperFrameReader()
    /// One read buffer for the channel's life: only the bytes a read filled are zeroised after it.
    private var buffer = [UInt8](repeating: 0, count: 16384)
    private var outgoing: [UInt8] = []
    private var readWatch: Watch?
    private var writeWatch: Watch?
    private var onFrame: (([UInt8]) -> Void)?
    /// Called once, with the reason, when the other end is gone or the stream broke.
    private var onClose: ((String) -> Void)?
    private(set) var closed = false
    /// The channel ended because the other end sent what does not decode.
    private(set) var closedOnMalformedInput = false

    init(fd: Int32, loop: EventLoop) {
        self.fd = fd
        self.loop = loop
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    func start(onFrame: @escaping ([UInt8]) -> Void, onClose: @escaping (String) -> Void) {
        self.onFrame = onFrame
        self.onClose = onClose
        readWatch = loop.watch(fd: fd, events: .readable) { [weak self] _ in self?.readable() }
    }

    /// Queues `frame` and zeroises the caller's copy (it may carry keys).
    func send(_ frame: inout [UInt8]) {
        defer { KeeperWire.zeroize(&frame) }
        guard !closed else { return }
        outgoing += frame
        flush()
    }

    /// `malformed`: the other end sent what does not decode (its process is not to be trusted).
    func close(_ reason: String, malformed: Bool = false) {
        guard !closed else { return }
        closed = true
        closedOnMalformedInput = malformed
        readWatch?.cancel()
        writeWatch?.cancel()
        readWatch = nil
        writeWatch = nil
        KeeperWire.zeroize(&outgoing)
        outgoing = []
        Glibc.close(fd)
        let handler = onClose
        onClose = nil
        onFrame = nil
        handler?(reason)
    }

    private func readable() {
        while !closed {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            defer { if n > 0 { buffer.withUnsafeMutableBytes { _ = memset($0.baseAddress!, 0, n) } } }
            if n == 0 { return close("the other end closed the channel") }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                return close("reading the channel: \(String(cString: strerror(errno)))")
            }
            var frames: [[UInt8]]
            do { frames = try reader.feed(buffer[0..<n]) } catch { return close("a malformed frame: \(error)", malformed: true) }
            // Zeroised in place once handled: the array's own buffers, not copies.
            for i in frames.indices {
                if !closed { onFrame?(frames[i]) }
                KeeperWire.zeroize(&frames[i])
            }
        }
    }

    private func flush() {
        while !outgoing.isEmpty && !closed {
            let n = outgoing.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                return close("writing the channel: \(String(cString: strerror(errno)))")
            }
            outgoing.withUnsafeMutableBytes { buffer in for i in 0..<n { buffer[i] = 0 } }
            outgoing.removeFirst(n)
        }
        if outgoing.isEmpty || closed {
            writeWatch?.cancel()
            writeWatch = nil
        } else if writeWatch == nil {
            writeWatch = loop.watch(fd: fd, events: .writable) { [weak self] _ in self?.flush() }
        }
    }
}
