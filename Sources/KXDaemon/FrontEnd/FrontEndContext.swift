import Foundation
import KXEventLoop
import KXOver

/// What the parts of one front end share on its loop: the backend, limits,
/// counters, the engine's delegates, and the registries `close()` sweeps.
final class FrontEndContext {
    let loop: EventLoop
    let configuration: FrontEndConfiguration
    let scratch = ScratchBuffer()
    let backend: BackendKDC
    var counters = FrontEndCounters()
    weak var interceptor: RelayInterceptor?
    weak var startTLSAcceptor: StartTLSAcceptor?

    var udpRelays: [UDPRelay] = []
    var tcpListeners: [TCPListener] = []
    private(set) var connections: [ObjectIdentifier: TCPClientConnection] = [:]
    private var acceptingPausedAtCap = false
    /// While paused at the cap: when to look again for a connection to evict.
    private var roomCheck: Watch?
    private(set) var isClosed = false

    var limits: FrontEndConfiguration.Limits { configuration.limits }

    init(configuration: FrontEndConfiguration, loop: EventLoop) {
        self.loop = loop
        self.configuration = configuration
        backend = BackendKDC(address: configuration.backend, loop: loop, limits: configuration.limits,
                             tcpClientPolicy: configuration.tcpClientBackend, realm: configuration.realm, scratch: scratch)
    }

    var udpInFlight: Int { udpRelays.reduce(0) { $0 + $1.inFlightCount } }

    /// A KRB-ERROR 61 naming our realm, framed for TCP.
    func refusal(_ text: String) -> [UInt8] {
        TCPFraming.fieldTooLongRefusal(realm: configuration.realm, now: now, text: text)
    }

    /// A KXOVER refusal (KRB-ERROR 60, "CODE: reason") naming our realm, framed for TCP.
    func refusal(telling refusal: KXError) -> [UInt8] {
        Refusal.frame(refusal.code, refusal.detail, realm: configuration.realm, now: now)
    }

    private var now: KerberosTime { KerberosTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))! }

    // MARK: - TCP connections

    /// Called by a listener before each accept: false once closed, or while
    /// the listeners are paused at the connection cap.
    var canAcceptConnection: Bool { !isClosed && !acceptingPausedAtCap }

    /// How long a connection must have waited for a message, with nothing in
    /// progress, before it may be closed to make room for a new one (a client
    /// that has just connected gets to send its request).
    static let evictableAfter: UInt64 = 1_000_000_000

    func accepted(fd: Int32, peer: SocketAddress, local: SocketAddress?) {
        counters.tcpConnectionsAccepted += 1
        let connection = TCPClientConnection(fd: fd, peer: peer, local: local, context: self)
        connections[ObjectIdentifier(connection)] = connection
        connection.start()
        if connections.count > limits.maxTCPConnections { makeRoom() }
    }

    /// Over the cap (a new connection was just accepted): close the connection
    /// that has waited longest for a message
    /// (as krb5kdc closes its oldest), so idle connections cannot lock clients
    /// out. When every connection is busy the listeners pause until one ends
    /// or becomes evictable; busy connections are never cut.
    private func makeRoom() {
        let now = DispatchTime.now().uptimeNanoseconds
        let evictable = connections.values.filter { connection in
            connection.idleSince.map { now &- $0 >= Self.evictableAfter } ?? false
        }
        if let oldest = evictable.min(by: { $0.idleSince! < $1.idleSince! }) {
            counters.idleEvictions += 1
            oldest.close()
            return
        }
        guard !acceptingPausedAtCap else { return }
        acceptingPausedAtCap = true
        counters.acceptPauses += 1
        tcpListeners.forEach { $0.pause() }
        roomCheck = loop.schedule(after: Double(Self.evictableAfter) / 1e9) { [weak self] in self?.retryRoom() }
    }

    private func retryRoom() {
        roomCheck = nil
        guard acceptingPausedAtCap, !isClosed else { return }
        acceptingPausedAtCap = false
        if connections.count > limits.maxTCPConnections { makeRoom() }
        if !acceptingPausedAtCap { tcpListeners.forEach { $0.resume() } }
    }

    func connectionEnded(_ connection: TCPClientConnection) {
        connections[ObjectIdentifier(connection)] = nil
        if acceptingPausedAtCap && !isClosed && connections.count <= limits.maxTCPConnections {
            acceptingPausedAtCap = false
            roomCheck?.cancel()
            roomCheck = nil
            tcpListeners.forEach { $0.resume() }
        }
    }

    // MARK: - Shutdown

    func close() {
        guard !isClosed else { return }
        isClosed = true
        roomCheck?.cancel()
        roomCheck = nil
        tcpListeners.forEach { $0.close() }
        tcpListeners.removeAll()
        udpRelays.forEach { $0.close() }
        udpRelays.removeAll()
        for connection in Array(connections.values) { connection.close() }
        connections.removeAll()
        backend.close()
    }
}
