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
    private var listener: Int32 = -1
    private var identity: (device: UInt64, inode: UInt64)?
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

    /// Binds and listens. A stale socket file (nobody listening) is replaced;
    /// a live one, or anything that is not a socket, is an error.
    public func start() throws {
        guard listener < 0 else { return }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { throw HostRealmServerError("hostrealm_socket \(path): path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        try removeStaleSocket(&address)
        let fd = socket(AF_UNIX, Sockets.streamType, 0)
        guard fd >= 0 else { throw HostRealmServerError("hostrealm_socket \(path): socket: \(String(cString: strerror(errno)))") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, chmod(path, 0o660) == 0, listen(fd, limits.backlog) == 0 else {
            let code = errno
            Glibc.close(fd)
            if bound == 0 { unlink(path) }
            throw HostRealmServerError("hostrealm_socket \(path): \(String(cString: strerror(code)))")
        }
        var info = stat()
        if lstat(path, &info) == 0 { identity = (UInt64(info.st_dev), UInt64(info.st_ino)) }
        listener = fd
        watch = loop.watch(fd: fd, events: .readable) { [weak self] _ in self?.acceptSome() }
        logger.notice("hostrealm socket \(path) ready")
    }

    /// Stops accepting, drops every connection and removes the socket file
    /// (only if it is still the one we bound).
    public func close() {
        watch?.cancel()
        watch = nil
        for connection in connections.values { connection.end() }
        connections.removeAll()
        guard listener >= 0 else { return }
        Glibc.close(listener)
        listener = -1
        var info = stat()
        if let identity, lstat(path, &info) == 0, UInt64(info.st_dev) == identity.device, UInt64(info.st_ino) == identity.inode {
            unlink(path)
        }
        identity = nil
    }

    deinit { close() }

    private func removeStaleSocket(_ address: inout sockaddr_un) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw HostRealmServerError("hostrealm_socket \(path) exists and is not a socket")
        }
        let probe = socket(AF_UNIX, Sockets.streamType, 0)
        guard probe >= 0 else { return }
        defer { Glibc.close(probe) }
        let live = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0 || errno == EAGAIN
        guard !live else { throw HostRealmServerError("hostrealm_socket \(path) is in use by another process") }
        unlink(path)
    }

    private func acceptSome() {
        for _ in 0..<32 {
            let (fd, _, error) = Sockets.accept(listener)
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
