import Foundation
import Glibc
import KXEventLoop
import KXOver
import Logging

/// kxoverd's end of the hostrealm socket (`[kxoverd] hostrealm_socket`):
/// answers krb5kdc's module with the realm `KXOverLookups.realm(ofHost:)`
/// finds through DNSSEC, or "no" (HostRealmProtocol). Runs on the event loop;
/// connections, request size and each connection's lifetime are bounded.
public final class HostRealmServer {
    public struct Limits: Sendable {
        /// Connections served at once; more are answered "no busy" at once.
        public var maxConnections = 32
        /// A connection's whole life: question, lookup and answer. The module
        /// gives up long before (200 ms); this bounds anyone else.
        public var connectionTimeout: Double = 3
        /// The kernel's queue of connections not yet accepted.
        public var backlog: Int32 = 64
        public init() {}
    }

    public struct Counters: Sendable {
        public var accepted = 0
        public var realms = 0
        public var refusals = 0
        public var malformed = 0
        public var busy = 0
        public var timeouts = 0
    }

    public let path: String
    public private(set) var counters = Counters()
    private let lookups: KXOverLookups
    private let loop: EventLoop
    private let limits: Limits
    private let logger: Logger
    private var listener: UnixListener?
    private var watch: Watch?
    private var connections: [ObjectIdentifier: Connection] = [:]

    public init(path: String, lookups: KXOverLookups, loop: EventLoop, limits: Limits = Limits(), logger: Logger) {
        self.path = path
        self.lookups = lookups
        self.loop = loop
        self.limits = limits
        self.logger = logger
    }

    public var openConnections: Int { connections.count }

    /// Binds and listens (UnixListener: a stale socket file is replaced, a
    /// live one or a non-socket is an error).
    public func start() throws {
        guard listener == nil else { return }
        let bound: UnixListener
        do { bound = try UnixListener(path: path, what: "hostrealm_socket", backlog: limits.backlog) }
        catch let error as UnixListenerError { throw HostRealmServerError(error.description) }
        listener = bound
        watch = loop.watch(fd: bound.fd, events: .readable) { [weak self] _ in self?.acceptSome() }
        logger.notice("hostrealm socket \(path) ready")
    }

    /// Stops accepting, drops every connection and removes the socket file.
    public func close() {
        watch?.cancel()
        watch = nil
        for connection in connections.values { connection.end() }
        connections.removeAll()
        listener?.close()
        listener = nil
    }

    deinit { close() }

    private func acceptSome() {
        for _ in 0..<32 {
            guard let listener else { return }
            let (fd, _, error) = Sockets.accept(listener.fd)
            guard fd >= 0 else {
                if error != EAGAIN && error != EWOULDBLOCK && error != ECONNABORTED && error != EINTR {
                    logger.warning("hostrealm socket: accept: \(String(cString: strerror(error)))")
                }
                return
            }
            counters.accepted += 1
            guard connections.count < limits.maxConnections else {
                counters.busy += 1
                HostRealmProtocol.refusal("busy").withUnsafeBytes { _ = Sockets.write(fd, $0) }
                Glibc.close(fd)
                continue
            }
            let connection = Connection(fd: fd, server: self)
            connections[ObjectIdentifier(connection)] = connection
            connection.start(timeout: limits.connectionTimeout)
        }
    }

    fileprivate func ended(_ connection: Connection) {
        connections[ObjectIdentifier(connection)] = nil
    }

    // MARK: - One question

    fileprivate final class Connection {
        let fd: Int32
        unowned let server: HostRealmServer
        var received: [UInt8] = []
        var pendingAnswer: [UInt8] = []
        var readWatch: Watch?
        var writeWatch: Watch?
        var timer: Watch?
        var query: DNSQuery?
        var host = ""
        var started = DispatchTime.now().uptimeNanoseconds
        var isOpen = true

        init(fd: Int32, server: HostRealmServer) {
            self.fd = fd
            self.server = server
        }

        func start(timeout: Double) {
            started = DispatchTime.now().uptimeNanoseconds
            readWatch = server.loop.watch(fd: fd, events: .readable) { [weak self] _ in self?.readable() }
            timer = server.loop.schedule(after: timeout) { [weak self] in
                guard let self else { return }
                self.server.counters.timeouts += 1
                self.answer(HostRealmProtocol.refusal("timeout"), note: "no answer within \(timeout) s")
            }
        }

        private func readable() {
            var chunk = [UInt8](repeating: 0, count: HostRealmProtocol.maximumLine)
            let outcome = chunk.withUnsafeMutableBytes { Sockets.read(fd, into: $0) }
            switch outcome {
            case .wouldBlock:
                return
            case .endOfStream, .failed:
                end()   // gone before asking: nothing to answer
            case .done(let count):
                received += chunk.prefix(count)
                switch HostRealmProtocol.request(received) {
                case .incomplete:
                    return
                case .malformed:
                    server.counters.malformed += 1
                    answer(HostRealmProtocol.refusal("malformed request"), note: "malformed request")
                case .host(let host):
                    readWatch?.cancel()
                    readWatch = nil
                    self.host = host
                    query = server.lookups.realm(ofHost: host) { [weak self] result in
                        guard let self, self.isOpen else { return }
                        self.query = nil
                        switch result {
                        case .success(let realm):
                            self.server.counters.realms += 1
                            self.answer(HostRealmProtocol.answer(realm: realm), note: realm)
                        case .failure(let error):
                            self.server.counters.refusals += 1
                            self.answer(HostRealmProtocol.refusal(error.detail), note: "no: \(error.detail)")
                        }
                    }
                }
            }
        }

        func answer(_ line: [UInt8], note: String) {
            guard isOpen else { return }
            query?.cancel()
            query = nil
            readWatch?.cancel()
            readWatch = nil
            timer?.cancel()
            timer = nil
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            let logger = server.logger
            pendingAnswer = line
            flush()   // the KDC waits for this; the log line can wait for the KDC
            logger.info("hostrealm \(host.isEmpty ? "?" : host) → \(note) [\(String(format: "%.1f", ms)) ms]")
        }

        private func flush() {
            while !pendingAnswer.isEmpty {
                let outcome = pendingAnswer.withUnsafeBytes { Sockets.write(fd, $0) }
                switch outcome {
                case .done(let count):
                    pendingAnswer.removeFirst(count)
                case .wouldBlock:
                    guard writeWatch == nil else { return }
                    writeWatch = server.loop.watch(fd: fd, events: .writable) { [weak self] _ in self?.flush() }
                    timer = server.loop.schedule(after: 1) { [weak self] in self?.end() }
                    return
                case .endOfStream, .failed:
                    return end()   // the asker left (the module's deadline passed)
                }
            }
            end()
        }

        func end() {
            guard isOpen else { return }
            isOpen = false
            query?.cancel()
            query = nil
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

public struct HostRealmServerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
