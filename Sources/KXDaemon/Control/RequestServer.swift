import Dispatch
import Glibc
import KXEventLoop
import KXOver

/// One request, one answer, then close: the shape of the control socket, the
/// metrics endpoint and the hostrealm socket. Runs on the event loop;
/// connections, request size and each connection's lifetime are bounded, so a
/// stalled or flooding client costs at most `maxConnections` descriptors for
/// `timeout` seconds.
final class RequestServer {
    struct Limits {
        var maxConnections = 16
        /// A connection's whole life: request, work and answer.
        var timeout: Double = 5
        var maxRequestBytes = 4096
        /// Written (best effort) to a connection over the cap, and at the timeout; nil: just close.
        var busyAnswer: [UInt8]?
        var timeoutAnswer: [UInt8]?
    }

    enum Parse {
        case incomplete
        case complete(String)
        case malformed(String)
    }

    enum Event {
        case accepted, busy, timeout
    }

    /// Reads what has arrived so far.
    typealias Parser = ([UInt8]) -> Parse
    /// Answers a complete request (or a malformed one, with its reason) by
    /// calling `respond` once, now or later; work it returns is cancelled if
    /// the connection ends first (timeout, server stopped).
    typealias Handler = (Result<String, RequestRefusal>, _ respond: @escaping ([UInt8]) -> Void) -> Cancellable?

    struct RequestRefusal: Error { let reason: String }

    private let listener: Int32
    let loop: EventLoop
    private let limits: Limits
    private let parse: Parser
    private let handle: Handler
    private let observe: (Event) -> Void
    private var watch: Watch?
    private var connections: [ObjectIdentifier: Connection] = [:]

    init(listener: Int32, loop: EventLoop, limits: Limits = Limits(), parse: @escaping Parser,
         observe: @escaping (Event) -> Void = { _ in }, handle: @escaping Handler) {
        self.listener = listener
        self.loop = loop
        self.limits = limits
        self.parse = parse
        self.observe = observe
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
        for _ in 0..<32 {
            let (fd, _, _) = Sockets.accept(listener)
            guard fd >= 0 else { return }   // EAGAIN, or a client that left; the next wake-up tries again
            observe(.accepted)
            guard connections.count < limits.maxConnections else {
                observe(.busy)
                limits.busyAnswer?.withUnsafeBytes { _ = Sockets.write(fd, $0) }
                Glibc.close(fd)
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
        var work: Cancellable?
        var answered = false
        var isOpen = true

        init(fd: Int32, server: RequestServer) {
            self.fd = fd
            self.server = server
        }

        func start() {
            readWatch = server.loop.watch(fd: fd, events: .readable) { [weak self] _ in self?.readable() }
            timer = server.loop.schedule(after: server.limits.timeout) { [weak self] in
                guard let self else { return }
                self.server.observe(.timeout)
                if let answer = self.server.limits.timeoutAnswer { self.respond(answer) } else { self.end() }
            }
        }

        private func readable() {
            var chunk = [UInt8](repeating: 0, count: 1024)
            switch chunk.withUnsafeMutableBytes({ Sockets.read(fd, into: $0) }) {
            case .wouldBlock:
                return
            case .endOfStream, .failed:
                end()   // gone before asking: nothing to answer
            case .done(let count):
                received += chunk.prefix(count)
                var outcome = server.parse(received)
                if case .incomplete = outcome, received.count >= server.limits.maxRequestBytes {
                    outcome = .malformed("request longer than \(server.limits.maxRequestBytes) bytes")
                }
                switch outcome {
                case .incomplete: return
                case .complete(let request): dispatch(.success(request))
                case .malformed(let reason): dispatch(.failure(RequestRefusal(reason: reason)))
                }
            }
        }

        private func dispatch(_ request: Result<String, RequestRefusal>) {
            readWatch?.cancel()
            readWatch = nil
            let work = server.handle(request) { [weak self] answer in self?.respond(answer) }
            if isOpen && !answered { self.work = work }
        }

        private func respond(_ answer: [UInt8]) {
            guard isOpen, !answered else { return }
            answered = true
            work?.cancel()
            work = nil
            readWatch?.cancel()
            readWatch = nil
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
                    return end()   // the asker left
                }
            }
            end()
        }

        func end() {
            guard isOpen else { return }
            isOpen = false
            work?.cancel()
            work = nil
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
