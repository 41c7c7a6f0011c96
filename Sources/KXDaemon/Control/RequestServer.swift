import Dispatch
import Glibc
import KXEventLoop

/// One request, one answer, then close: the shape of the control socket and
/// the metrics endpoint. Runs on the event loop; connections, request size
/// and each connection's lifetime are bounded, so a stalled or flooding
/// client costs at most `maxConnections` descriptors for `timeout` seconds.
final class RequestServer {
    struct Limits {
        var maxConnections = 16
        var timeout: Double = 5
        var maxRequestBytes = 4096
    }

    enum Parse {
        case incomplete
        case complete(String)
        case malformed(String)
    }

    /// Reads what has arrived so far.
    typealias Parser = ([UInt8]) -> Parse
    /// Answers a complete request (or a malformed one, with its reason) by calling `respond` once.
    typealias Handler = (Result<String, RequestRefusal>, _ respond: @escaping ([UInt8]) -> Void) -> Void

    struct RequestRefusal: Error { let reason: String }

    private let listener: Int32
    private let loop: EventLoop
    private let limits: Limits
    private let parse: Parser
    private let handle: Handler
    private var watch: Watch?
    private var connections: [ObjectIdentifier: Connection] = [:]

    init(listener: Int32, loop: EventLoop, limits: Limits = Limits(), parse: @escaping Parser, handle: @escaping Handler) {
        self.listener = listener
        self.loop = loop
        self.limits = limits
        self.parse = parse
        self.handle = handle
    }

    var openConnections: Int { connections.count }

    func start() {
        watch = loop.watch(fd: listener, events: .readable) { [weak self] _ in self?.acceptSome() }
    }

    /// Stops accepting and drops every connection; the caller closes the listener.
    func stop() {
        watch?.cancel()
        watch = nil
        for connection in connections.values { connection.end() }
        connections.removeAll()
    }

    private func acceptSome() {
        for _ in 0..<16 {
            let (fd, _, error) = Sockets.accept(listener)
            guard fd >= 0 else {
                _ = error   // EAGAIN, or a client that left; the next wake-up tries again
                return
            }
            guard connections.count < limits.maxConnections else {
                Glibc.close(fd)   // over the cap: the client sees the connection closed at once
                continue
            }
            let connection = Connection(fd: fd, server: self)
            connections[ObjectIdentifier(connection)] = connection
            connection.start()
        }
    }

    fileprivate func ended(_ connection: Connection) {
        connections[ObjectIdentifier(connection)] = nil
    }

    fileprivate final class Connection {
        let fd: Int32
        unowned let server: RequestServer
        var received: [UInt8] = []
        var pending: [UInt8] = []
        var readWatch: Watch?
        var writeWatch: Watch?
        var timer: Watch?
        var answered = false
        var isOpen = true

        init(fd: Int32, server: RequestServer) {
            self.fd = fd
            self.server = server
        }

        func start() {
            readWatch = server.loop.watch(fd: fd, events: .readable) { [weak self] _ in self?.readable() }
            timer = server.loop.schedule(after: server.limits.timeout) { [weak self] in self?.end() }
        }

        private func readable() {
            var chunk = [UInt8](repeating: 0, count: 1024)
            switch chunk.withUnsafeMutableBytes({ Sockets.read(fd, into: $0) }) {
            case .wouldBlock:
                return
            case .endOfStream, .failed:
                end()
            case .done(let count):
                received += chunk.prefix(count)
                var outcome = server.parse(received)
                if case .incomplete = outcome, received.count >= server.limits.maxRequestBytes {
                    outcome = .malformed("request longer than \(server.limits.maxRequestBytes) bytes")
                }
                switch outcome {
                case .incomplete:
                    return
                case .complete(let request):
                    dispatch(.success(request))
                case .malformed(let reason):
                    dispatch(.failure(RequestRefusal(reason: reason)))
                }
            }
        }

        private func dispatch(_ request: Result<String, RequestRefusal>) {
            readWatch?.cancel()
            readWatch = nil
            server.handle(request) { [weak self] answer in self?.respond(answer) }
        }

        private func respond(_ answer: [UInt8]) {
            guard isOpen, !answered else { return }
            answered = true
            pending = answer
            flush()
        }

        private func flush() {
            while !pending.isEmpty {
                switch pending.withUnsafeBytes({ Sockets.write(fd, $0) }) {
                case .done(let count):
                    pending.removeFirst(count)
                case .wouldBlock:
                    if writeWatch == nil {
                        writeWatch = server.loop.watch(fd: fd, events: .writable) { [weak self] _ in self?.flush() }
                    }
                    return
                case .endOfStream, .failed:
                    return end()
                }
            }
            end()
        }

        func end() {
            guard isOpen else { return }
            isOpen = false
            readWatch?.cancel()
            writeWatch?.cancel()
            timer?.cancel()
            readWatch = nil
            writeWatch = nil
            timer = nil
            Glibc.close(fd)
            server.ended(self)
        }
    }
}
