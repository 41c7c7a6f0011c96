import CUnbound
import Foundation
import KXEventLoop
import KXOver

/// The DNSSEC-validating resolver: libunbound in threaded async mode (never
/// fork), its result fd watched by the event loop. Callbacks run inside
/// `ub_process` on the loop thread, so completions need no locking.
public final class UnboundResolver: Resolver {
    private let context: OpaquePointer
    private let loop: EventLoop
    private var watch: Watch?
    public let configuration: ResolverConfiguration
    /// Callback contexts handed to libunbound, by query id. Each is released
    /// exactly once: by its callback, by a successful ub_cancel, or at deinit.
    private var inFlight: [Int32: Unmanaged<Pending>] = [:]

    /// Queries whose callback context is still held (for leak checks).
    public var liveQueries: Int { inFlight.count }

    public init(configuration: ResolverConfiguration, loop: EventLoop) throws {
        guard let context = ub_ctx_create() else { throw DNSFailure.resolver("ub_ctx_create failed") }
        self.context = context
        self.loop = loop
        self.configuration = configuration
        // On a throw from here on, deinit runs and deletes the context.
        try configure()
        let fd = ub_fd(context)
        guard fd >= 0 else { throw DNSFailure.resolver("ub_fd failed") }
        watch = loop.watch(fd: fd, events: .readable) { [context] _ in _ = ub_process(context) }
    }

    deinit {
        watch?.cancel()
        // ub_ctx_delete drops pending queries without calling back.
        ub_ctx_delete(context)
        for (_, box) in inFlight {
            let pending = box.takeRetainedValue()
            pending.timer?.cancel()
            pending.completion = nil
        }
    }

    private func check(_ code: Int32, _ what: String) throws {
        guard code == 0 else { throw DNSFailure.resolver("\(what): \(String(cString: ub_strerror(code)))") }
    }

    private func configure() throws {
        // Threads, not a forked process: the daemon never forks.
        try check(ub_ctx_async(context, 1), "ub_ctx_async")
        // why_bogus needs validator log level 2.
        try check(ub_ctx_set_option(context, "val-log-level:", "2"), "val-log-level")
        if configuration.usesLoopbackServers {
            try check(ub_ctx_set_option(context, "do-not-query-localhost:", "no"), "do-not-query-localhost")
        }
        for option in configuration.options {
            try check(ub_ctx_set_option(context, option.name, option.value), "option \(option.name) \(option.value)")
        }
        if let problem = configuration.validationProblems().first { throw DNSFailure.resolver(problem) }
        guard !configuration.trustAnchors.isEmpty || !configuration.trustAnchorFiles.isEmpty else {
            throw DNSFailure.resolver("no DNSSEC trust anchor configured (and \(ResolverConfiguration.debianRootKey) is absent)")
        }
        for anchor in configuration.trustAnchors {
            try check(ub_ctx_add_ta(context, anchor), "trust anchor \"\(anchor)\"")
        }
        for file in configuration.trustAnchorFiles {
            try check(ub_ctx_add_ta_file(context, file), "trust anchor file \(file)")
        }
        for forwarder in configuration.forwarders {
            try check(ub_ctx_set_fwd(context, forwarder), "forwarder \(forwarder)")
        }
        for stub in configuration.stubs {
            try check(ub_ctx_set_stub(context, stub.zone, stub.address, 0), "stub \(stub.zone) \(stub.address)")
        }
    }

    /// One query in flight: its completion, timer and unbound id.
    final class Pending: DNSQuery {
        weak var resolver: UnboundResolver?
        var completion: ((Result<DNSAnswer, DNSFailure>) -> Void)?
        var id: Int32 = 0
        var timer: Watch?
        let name: String
        let type: DNSRecordType

        init(resolver: UnboundResolver, name: String, type: DNSRecordType, completion: @escaping (Result<DNSAnswer, DNSFailure>) -> Void) {
            self.resolver = resolver
            self.name = name
            self.type = type
            self.completion = completion
        }

        func cancel() {
            guard completion != nil else { return }
            resolver?.abandon(self)
        }

        /// Delivers once; later calls are ignored.
        func finish(_ result: Result<DNSAnswer, DNSFailure>) {
            timer?.cancel()
            timer = nil
            guard let completion else { return }
            self.completion = nil
            completion(result)
        }
    }

    @discardableResult
    public func query(_ name: String, _ type: DNSRecordType, completion: @escaping (Result<DNSAnswer, DNSFailure>) -> Void) -> DNSQuery {
        let pending = Pending(resolver: self, name: name, type: type, completion: completion)
        let box = Unmanaged.passRetained(pending)
        var id: Int32 = 0
        let code = ub_resolve_async(context, name, type.rawValue, 1, box.toOpaque(), { data, error, result in
            // Runs inside ub_process on the loop thread; the box is ours exactly once.
            let pending = Unmanaged<Pending>.fromOpaque(data!).takeRetainedValue()
            pending.resolver?.inFlight[pending.id] = nil
            pending.finish(UnboundResolver.answer(name: pending.name, type: pending.type, error: error, result: result))
        }, &id)
        guard code == 0 else {
            box.release()
            let message = String(cString: ub_strerror(code))
            loop.schedule(after: 0) { pending.finish(.failure(.resolver(message))) }
            return pending
        }
        pending.id = id
        inFlight[id] = box
        let timeout = configuration.queryTimeout
        pending.timer = loop.schedule(after: timeout) { [weak self, weak pending] in
            guard let self, let pending else { return }
            self.abandon(pending, because: .timeout(seconds: timeout))
        }
        return pending
    }

    /// Cancels an unanswered query. libunbound never calls back for a query it
    /// cancelled, so its context is released here.
    fileprivate func abandon(_ pending: Pending, because failure: DNSFailure = .cancelled) {
        if ub_cancel(context, pending.id) == 0, let box = inFlight.removeValue(forKey: pending.id) {
            box.release()
        }
        if case .cancelled = failure {
            pending.timer?.cancel()
            pending.completion = nil
        } else {
            pending.finish(.failure(failure))
        }
    }

    static func answer(name: String, type: DNSRecordType, error: Int32, result: UnsafeMutablePointer<ub_result>?) -> Result<DNSAnswer, DNSFailure> {
        guard error == 0, let result else {
            return .failure(.resolver(String(cString: ub_strerror(error))))
        }
        defer { ub_resolve_free(result) }
        let r = result.pointee
        var rdata: [[UInt8]] = []
        if r.havedata != 0, let data = r.data, let lengths = r.len {
            var i = 0
            while let item = data[i] {
                rdata.append(Array(UnsafeRawBufferPointer(start: item, count: Int(lengths[i]))))
                i += 1
            }
        }
        let security: DNSSecurity
        if r.bogus != 0 {
            security = .bogus(reason: r.why_bogus.map { String(cString: $0) } ?? "validation failed")
        } else if r.secure != 0 {
            security = .secure
        } else {
            security = .insecure
        }
        return .success(DNSAnswer(name: name, type: type, security: security, nameDoesNotExist: r.nxdomain != 0, rdata: rdata,
                                   ttl: UInt32(clamping: max(r.ttl, 0))))
    }
}
