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

    /// Called by a listener; false once the connection cap is reached (the
    /// listeners are then paused until a connection ends).
    var canAcceptConnection: Bool {
        if isClosed { return false }
        if connections.count < limits.maxTCPConnections { return true }
        if !acceptingPausedAtCap {
            acceptingPausedAtCap = true
            counters.acceptPauses += 1
            tcpListeners.forEach { $0.pause() }
        }
        return false
    }

    func accepted(fd: Int32, peer: SocketAddress, local: SocketAddress?) {
        counters.tcpConnectionsAccepted += 1
        let connection = TCPClientConnection(fd: fd, peer: peer, local: local, context: self)
        connections[ObjectIdentifier(connection)] = connection
        connection.start()
    }

    func connectionEnded(_ connection: TCPClientConnection) {
        connections[ObjectIdentifier(connection)] = nil
        if acceptingPausedAtCap && !isClosed && connections.count < limits.maxTCPConnections {
            acceptingPausedAtCap = false
            tcpListeners.forEach { $0.resume() }
        }
    }

    // MARK: - Shutdown

    func close() {
        guard !isClosed else { return }
        isClosed = true
        tcpListeners.forEach { $0.close() }
        tcpListeners.removeAll()
        udpRelays.forEach { $0.close() }
        udpRelays.removeAll()
        for connection in Array(connections.values) { connection.close() }
        connections.removeAll()
        backend.close()
    }
}
