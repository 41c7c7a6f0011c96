import KXEventLoop
import CFDPass
import Foundation

/// A TLS Pool on GnuTLS that serves any connected AF_UNIX stream socket
/// speaking the PIOC V2 protocol: in-process over a socketpair (`attach`,
/// `connectInProcess`) or for other processes on a socket path (`listen`).
///
/// Threads: a fixed set of lanes (event-loop threads, about one per core,
/// `PoolLane`), whatever the load. Connections, listening sockets and
/// STARTTLS sessions (handshake, then relay) all run non-blocking on them.
/// `shutdown()` stops every lane and waits for its thread.
public final class TLSPoolServer: @unchecked Sendable {
    public let configuration: TLSPoolConfiguration
    /// Replaced whole by `reloadIdentities`; a session keeps the store it
    /// started with alive until it ends (GnuTLS does not copy credentials).
    var credentials: CredentialStore { credentialLock.withLock { currentCredentials } }
    private var currentCredentials: CredentialStore
    private let credentialLock = NSLock()
    let dane: DANEVerifier
    let chainFacts = ChainFactsMemory()
    let priority: TLSPriority
    let registry = SessionRegistry()

    private let lanes: [PoolLane]
    private let laneTurn = Mutex(0)
    private let state = NSCondition()
    private var connections: [ObjectIdentifier: PoolConnection] = [:]
    private var sessions: [ObjectIdentifier: PoolSession] = [:]
    private var liveThreads = 0
    private var stopped = false
    private var listeners: [(listener: UnixListener, lane: PoolLane, watch: LaneWatch)] = []

    public init(configuration: TLSPoolConfiguration) throws {
        self.configuration = configuration
        currentCredentials = try CredentialStore(configuration.identities)
        dane = try DANEVerifier()
        priority = try TLSPriority(configuration.priority)
        do {
            lanes = try (0..<max(configuration.lanes, 1)).map { _ in try PoolLane() }
        } catch {
            throw TLSPoolSetupError("event loop: \(error)")
        }
        signal(SIGPIPE, SIG_IGN)   // belt and braces: every socket write already uses MSG_NOSIGNAL
        for lane in lanes {
            if let problem = spawn({ lane.run() }) {
                shutdown()
                throw TLSPoolSetupError(problem)
            }
        }
    }

    deinit {
        shutdown()
    }

    /// The lane for the next connection or session (round robin).
    func nextLane() -> PoolLane {
        laneTurn.withLock { turn in
            defer { turn = (turn + 1) % lanes.count }
            return lanes[turn]
        }
    }

    func log(_ message: String) { configuration.log(message) }

    /// Loads new certificates and keys for every identity (all or nothing):
    /// handshakes that start afterwards use them, sessions already running
    /// keep theirs. Throws, changing nothing, if any file fails to load.
    public func reloadIdentities(_ identities: [TLSPoolConfiguration.Identity]) throws {
        let loaded = try CredentialStore(identities)
        credentialLock.withLock { currentCredentials = loaded }
    }

    // MARK: - Connections

    /// Serves the connected AF_UNIX stream socket `fd` (taken over).
    public func attach(_ fd: Int32) throws {
        let transport: TLSPoolConnection
        do {
            transport = try TLSPoolConnection(adopting: fd)
        } catch {
            Descriptors.close(fd)
            throw error
        }
        let connection = PoolConnection(server: self, transport: transport, lane: nextLane())
        state.lock()
        guard !stopped else {
            state.unlock()
            transport.close()
            throw TLSPoolSetupError("the pool has stopped")
        }
        connections[ObjectIdentifier(connection)] = connection
        state.unlock()
        connection.lane.execute { connection.start() }
    }

    /// Embedded mode: a socketpair with one end served by this pool; the
    /// other end is returned for a `TLSPoolClient`.
    public func connectInProcess() throws -> TLSPoolConnection {
        let (clientEnd, poolEnd) = try TLSPoolConnection.pair()
        try attach(poolEnd)
        return clientEnd
    }

    /// Accepts connections on a UNIX socket at `path` with permissions
    /// `mode`. A stale socket file is replaced; a live one (another pool)
    /// refuses the start. Whoever can connect to this socket can use every
    /// identity the pool holds and its exporter: `mode` and the directory's
    /// permissions are the pool's access control.
    public func listen(path: String, mode: mode_t = 0o660) throws {
        let listener: UnixListener
        do { listener = try UnixListener(path: path, what: "pool socket", mode: mode, backlog: 64, nonBlocking: true) }
        catch let error as UnixListenerError { throw TLSPoolSetupError(error.description) }
        let lane = nextLane(), watch = LaneWatch()
        state.lock()
        guard !stopped else {
            state.unlock()
            Descriptors.close(listener.fd)
            listener.removeFile()
            throw TLSPoolSetupError("the pool has stopped")
        }
        listeners.append((listener, lane, watch))
        state.unlock()
        let fd = listener.fd
        lane.execute { [self] in
            watch.watch = lane.loop.watch(fd: fd, events: .readable) { [unowned self] _ in acceptAll(fd) }
        }
    }

    /// Takes every waiting connection (the listening socket is non-blocking).
    private func acceptAll(_ listener: Int32) {
        while true {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return   // EAGAIN, or out of descriptors: the next readiness retries
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            do { try attach(fd) } catch { log("TLS Pool: connection not served: \(error)") }
        }
    }

    func connectionEnded(_ connection: PoolConnection) {
        state.lock()
        connections[ObjectIdentifier(connection)] = nil
        state.broadcast()
        state.unlock()
    }

    // MARK: - Sessions

    /// Starts `session` on its lane; the refusal to report otherwise.
    func launch(_ session: PoolSession) -> PoolProblem? {
        state.lock()
        guard !stopped else {
            state.unlock()
            return PoolProblem(.connectionHandlerSetup, "the pool is stopping")
        }
        guard sessions.count < configuration.maximumSessions else {
            state.unlock()
            return PoolProblem(.connectionHandlerSetup, "too many concurrent sessions")
        }
        sessions[ObjectIdentifier(session)] = session
        state.unlock()
        session.lane.perform { session.start() }   // called from the connection's reader
        return nil
    }

    func sessionEnded(_ session: PoolSession) {
        state.lock()
        sessions[ObjectIdentifier(session)] = nil
        state.broadcast()
        state.unlock()
    }

    // MARK: - Observation and shutdown

    /// STARTTLS sessions handshaking or relaying.
    public var activeSessionCount: Int {
        state.lock()
        defer { state.unlock() }
        return sessions.count
    }

    /// Sessions whose ctlkey is registered (protected and relaying).
    public var registeredSessionCount: Int { registry.count }

    public var connectionCount: Int {
        state.lock()
        defer { state.unlock() }
        return connections.count
    }

    /// Threads this pool has running: its lanes, whatever the load.
    public var liveThreadCount: Int {
        state.lock()
        defer { state.unlock() }
        return liveThreads
    }

    /// Waits until no session is running (true) or `timeout` passes.
    @discardableResult
    public func waitUntilNoSessions(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        state.lock()
        defer { state.unlock() }
        while !sessions.isEmpty {
            if !state.wait(until: deadline) { return sessions.isEmpty }
        }
        return true
    }

    /// Stops accepting, disconnects every connection, cancels every session
    /// and waits (up to `timeout`) for every lane's thread to end.
    public func shutdown(timeout: Double = 10) {
        state.lock()
        let first = !stopped
        stopped = true
        let running = Array(sessions.values)
        let open = listeners
        let attached = Array(connections.values)
        listeners = []
        state.unlock()
        guard first else { return }
        for (_, lane, watch) in open { lane.execute { watch.watch = nil } }
        for connection in attached { connection.lane.execute { connection.teardown() } }
        for session in running { session.cancel() }
        // Each lane stops after the work queued above (and what it queues in
        // turn on the same lane) has run.
        for lane in lanes { lane.execute { lane.stop() } }
        let deadline = Date().addingTimeInterval(timeout)
        state.lock()
        while liveThreads > 0 {
            if !state.wait(until: deadline) { break }
        }
        state.unlock()
        for (listener, _, _) in open {
            Descriptors.close(listener.fd)
            listener.removeFile()   // only if it is still ours
        }
    }

    /// Runs `body` on a new detached thread, counted in `liveThreads`.
    private func spawn(_ body: @escaping @Sendable () -> Void) -> String? {
        state.lock()
        liveThreads += 1
        state.unlock()
        let started = PoolThread.start { [self] in
            body()
            state.lock()
            liveThreads -= 1
            state.broadcast()
            state.unlock()
        }
        if started { return nil }
        state.lock()
        liveThreads -= 1
        state.unlock()
        return "cannot start a thread"
    }
}

/// Detached pthreads (Foundation's Thread cannot report a failed start).
enum PoolThread {
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    static func start(_ body: @escaping @Sendable () -> Void) -> Bool {
        let box = Unmanaged.passRetained(Box(body))
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { context in
            let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            box.body()
            return nil
        }, box.toOpaque())
        if result != 0 { box.release() }
        return result == 0
    }
}

/// A listening socket's watch, set and cleared on its lane.
final class LaneWatch: @unchecked Sendable {
    @CancelledWhenReplaced var watch: Watch?
}
