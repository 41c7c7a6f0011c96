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
    private var server: RequestServer?

    public init(path: String, lookups: KXOverLookups, loop: EventLoop, limits: Limits = Limits(), logger: Logger) {
        self.path = path
        self.lookups = lookups
        self.loop = loop
        self.limits = limits
        self.logger = logger
    }

    public var openConnections: Int { server?.openConnections ?? 0 }

    /// Binds and listens (UnixListener: a stale socket file is replaced, a
    /// live one or a non-socket is an error).
    public func start() throws {
        guard listener == nil else { return }
        let bound: UnixListener
        do { bound = try UnixListener(path: path, what: "hostrealm_socket", backlog: limits.backlog) }
        catch let error as UnixListenerError { throw HostRealmServerError(error.description) }
        listener = bound
        var bounds = RequestServer.Limits()
        bounds.maxConnections = limits.maxConnections
        bounds.timeout = limits.connectionTimeout
        bounds.maxRequestBytes = HostRealmProtocol.maximumLine
        bounds.busyAnswer = HostRealmProtocol.refusal("busy")
        bounds.timeoutAnswer = HostRealmProtocol.refusal("timeout")
        let server = RequestServer(listener: bound.fd, loop: loop, limits: bounds, parse: Self.parse,
                                   observe: { [weak self] event in self?.count(event) }) { [weak self] request, respond in
            self?.answer(request, respond)
        }
        server.start()
        self.server = server
        logger.notice("hostrealm socket \(path) ready")
    }

    /// Stops accepting, drops every connection and removes the socket file.
    public func close() {
        server?.stop()
        server = nil
        listener?.close()
        listener = nil
    }

    deinit { close() }

    private static func parse(_ bytes: [UInt8]) -> RequestServer.Parse {
        switch HostRealmProtocol.request(bytes) {
        case .incomplete: return .incomplete
        case .malformed: return .malformed("malformed request")
        case .host(let host): return .complete(host)
        }
    }

    private func count(_ event: RequestServer.Event) {
        switch event {
        case .accepted: counters.accepted += 1
        case .busy: counters.busy += 1
        case .timeout: counters.timeouts += 1
        }
    }

    /// One question: the realm DNSSEC vouches for, or "no" with the reason.
    /// The answer is written before the log line: the KDC is waiting for it.
    private func answer(_ request: Result<String, RequestServer.RequestRefusal>, _ respond: @escaping ([UInt8]) -> Void) -> Cancellable? {
        let started = DispatchTime.now().uptimeNanoseconds
        let logger = self.logger
        func reply(_ line: [UInt8], host: String, note: String) {
            respond(line)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            logger.info("hostrealm \(host) → \(note) [\(String(format: "%.1f", ms)) ms]")
        }
        switch request {
        case .failure:
            counters.malformed += 1
            reply(HostRealmProtocol.refusal("malformed request"), host: "?", note: "malformed request")
            return nil
        case .success(let host):
            return lookups.realm(ofHost: host) { [weak self] result in
                guard let self else { return }
                switch result {
                case .success(let realm):
                    self.counters.realms += 1
                    reply(HostRealmProtocol.answer(realm: realm), host: host, note: realm)
                case .failure(let error):
                    self.counters.refusals += 1
                    reply(HostRealmProtocol.refusal(error.detail), host: host, note: "no: \(error.detail)")
                }
            }
        }
    }
}

public struct HostRealmServerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
