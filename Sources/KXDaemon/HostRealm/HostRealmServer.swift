import Foundation
import Glibc
import KXEventLoop
import KXOver
import Logging

/// kxoverd's end of the hostrealm socket (`[kxoverd] hostrealm_socket`):
/// answers krb5kdc's module from memory only (`HostRealmLookup.cached`):
/// the realm DNSSEC vouched for, or "no" (HostRealmProtocol). A host not in
/// the cache is "no pending" at once while kxoverd looks it up in the
/// background, so that the next question about it finds the answer: the
/// module's question never waits for DNS, since krb5kdc waits for the module
/// on its single loop (issue 19, item 4). Runs on the event loop;
/// connections, request size and each connection's lifetime are bounded.
public final class HostRealmServer {
    public struct Limits: Sendable {
        /// Connections served at once; more are answered "no busy" at once.
        public var maxConnections = 32
        /// A connection's whole life: question and answer. The module gives
        /// up long before (KX_HOSTREALM_TIMEOUT_MS); this bounds anyone else.
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
        /// Hosts not in the cache: told "no pending" (or "no busy"), looked up in the background.
        public var misses = 0
    }

    public let path: String
    public private(set) var counters = Counters()
    public let hostRealms: HostRealmLookup
    private let loop: EventLoop
    private let limits: Limits
    private let logger: Logger
    private var listener: UnixListener?
    private var server: RequestServer?

    public init(path: String, hostRealms: HostRealmLookup, loop: EventLoop, limits: Limits = Limits(), logger: Logger) {
        self.path = path
        self.hostRealms = hostRealms
        self.loop = loop
        self.limits = limits
        self.logger = logger
    }

    /// A server with a cache of its own (default policy) over `lookups`.
    public convenience init(path: String, lookups: KXOverLookups, loop: EventLoop, limits: Limits = Limits(), logger: Logger) {
        self.init(path: path, hostRealms: HostRealmLookup(lookups: lookups), loop: loop, limits: limits, logger: logger)
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

    /// One question, answered from the cache at once: the realm DNSSEC
    /// vouched for, "no" with the remembered reason, or, for a host not in the
    /// cache, "no pending" while the lookup runs in the background. The
    /// answer is written before the log line: the KDC is waiting for it.
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
        case .success(let host):
            switch hostRealms.cached(host) {
            case .success(let realm)?:
                counters.realms += 1
                reply(HostRealmProtocol.answer(realm: realm), host: host, note: realm)
            case .failure(let error)?:
                counters.refusals += 1
                reply(HostRealmProtocol.refusal(error.detail), host: host, note: "no: \(error.detail)")
            case nil:
                counters.misses += 1
                let reason = hostRealms.prefetch(host) ? Self.pending : "busy"
                reply(HostRealmProtocol.refusal(reason), host: host, note: "no: \(reason)")
            }
        }
        return nil
    }

    /// The reason told for a host not in the cache.
    public static let pending = "pending: not in the cache; looking it up for the next question"
}

public struct HostRealmServerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
