import KXOver

/// What one KDC front end serves: the public addresses (each gets a UDP and a
/// TCP listener on the same port), the loopback krb5kdc behind it, the realm
/// its own refusals name, and the bounds on everything it holds.
public struct FrontEndConfiguration: Sendable {
    /// The realm named in our KRB-ERROR 61 refusals.
    public var realm: String
    /// Listen addresses. Port 0 picks one free port, shared by every port-0
    /// address and by UDP and TCP alike (clients use one port for both).
    public var listen: [SocketAddress]
    /// krb5kdc's own address (loopback).
    public var backend: SocketAddress
    public var limits: Limits

    public init(realm: String, listen: [SocketAddress], backend: SocketAddress, limits: Limits = Limits()) {
        self.realm = realm
        self.listen = listen
        self.backend = backend
        self.limits = limits
    }

    public struct Limits: Sendable, Equatable {
        /// Open client TCP connections; at the cap we stop accepting, so new
        /// clients wait in the listen backlog rather than being refused.
        public var maxTCPConnections = 512
        public var listenBacklog: Int32 = 128
        /// UDP requests relayed or held at once; datagrams past it are dropped
        /// (the client retries). Each holds one backend socket while relaying.
        public var maxUDPInFlight = 512
        /// Frame sizes for client TCP messages and backend TCP replies
        /// (MIT krb5kdc's own cap by default).
        public var frameLimits = TCPFraming.Limits.kdcRelay
        /// Spec §3.4: wait after each UDP send to the backend (2.0 s, then 1.0 s);
        /// the count is the number of sends. Silence after the last: give up.
        public var backendUDPWaits: [Double] = [2.0, 1.0, 1.0, 1.0]
        /// Whole backend TCP exchange: queue, connect, send, reply.
        public var backendTCPTimeout = 10.0
        /// TCP connections to krb5kdc at once; more requests queue. krb5kdc
        /// listens with a backlog of 5 and serves one request at a time.
        public var backendTCPConcurrency = 4
        /// A TCP connection with no request in progress that sends nothing for
        /// this long is closed.
        public var idleTimeout = 30.0
        /// Longest a `RelayInterceptor` may hold one request before the front
        /// end gives up on it (UDP: forgotten; TCP: connection closed).
        public var holdTimeout = 30.0
        /// Replays one held request may ask for.
        public var maxReplaysPerRequest = 4
        /// After a refusal: how long we drain the client's input before closing,
        /// so our KRB-ERROR is not destroyed by a reset.
        public var lingerTimeout = 1.0
        /// Idle connected UDP sockets kept for reuse towards the backend.
        public var backendUDPSocketPool = 32

        public init() {}

        func validate() throws {
            func check(_ ok: Bool, _ what: String) throws { if !ok { throw FrontEndError.badConfiguration(what) } }
            try check(maxTCPConnections > 0, "maxTCPConnections must be positive")
            try check(maxUDPInFlight > 0, "maxUDPInFlight must be positive")
            try check(backendTCPConcurrency > 0, "backendTCPConcurrency must be positive")
            try check(listenBacklog > 0, "listenBacklog must be positive")
            try check(!backendUDPWaits.isEmpty && backendUDPWaits.allSatisfy { $0 > 0 }, "backendUDPWaits needs positive waits")
            try check(frameLimits.minimum >= 1 && frameLimits.maximum >= frameLimits.minimum, "frameLimits is empty")
            for (value, name) in [(backendTCPTimeout, "backendTCPTimeout"), (idleTimeout, "idleTimeout"),
                                  (holdTimeout, "holdTimeout"), (lingerTimeout, "lingerTimeout")] {
                try check(value > 0, "\(name) must be positive")
            }
            try check(maxReplaysPerRequest >= 0 && backendUDPSocketPool >= 0, "counts must not be negative")
        }
    }
}
