import KXEventLoop
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
    /// How TCP clients' requests travel to krb5kdc.
    public var tcpClientBackend: TCPClientBackendPolicy
    public var limits: Limits

    public init(realm: String, listen: [SocketAddress], backend: SocketAddress,
                tcpClientBackend: TCPClientBackendPolicy = .udpFirst(maxUDPRequest: 1465), limits: Limits = Limits()) {
        self.realm = realm
        self.listen = listen
        self.backend = backend
        self.tcpClientBackend = tcpClientBackend
        self.limits = limits
    }

    /// How a request that came over TCP reaches krb5kdc. UDP clients are
    /// always relayed over UDP.
    public enum TCPClientBackendPolicy: Sendable, Equatable {
        /// A fresh TCP connection per request, as the client used.
        case tcp
        /// UDP for requests up to `maxUDPRequest` bytes (MIT clients send up
        /// to 1465 over UDP), TCP for larger ones and whenever krb5kdc answers
        /// KRB_ERR_RESPONSE_TOO_BIG. Spec §3.4's wrapper relays TCP over UDP
        /// too; a TCP connection per request costs krb5kdc and the front end a
        /// handshake, an accept and a teardown (measured: relayed TCP latency
        /// 1.5x direct over TCP, 1.2x over UDP first). Safe with krb5kdc's
        /// lookaside cache: it keeps the full reply, so the TCP retry of the
        /// same bytes gets it.
        case udpFirst(maxUDPRequest: Int)
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
        /// (128 KiB by default: what a KDC needs, `TCPFraming.Limits.kdcRelay`).
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
        /// krb5kdc's kdc_max_dgram_reply_size: a reply over TCP larger than
        /// this could not have gone over UDP (see `OversizedReplyMemory`).
        public var backendMaxDatagramReply = 4096
        /// How long, and how many, requests with such replies are remembered
        /// so that krb5kdc never gets them over UDP again (its lookaside cache
        /// keeps replies two minutes).
        public var oversizedReplyMemory = 180.0
        public var oversizedReplyCapacity = 8192

        public init() {}

        /// The most one client TCP connection makes kxoverd hold: its input
        /// (a whole next message may wait behind the one in progress, and one
        /// read of the 64 KiB scratch buffer may overshoot that), the request
        /// being relayed, and one reply being sent.
        public var bytesPerTCPConnection: Int { 3 * (frameLimits.maximum + 4) + 65_536 }
        /// The most one UDP request in flight holds: the datagram and the reply.
        public var bytesPerUDPRequest: Int { 2 * 65_536 }

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
            try check(oversizedReplyMemory >= 150 && oversizedReplyCapacity > 0,
                      "oversized replies must be remembered at least 150 s (krb5kdc's lookaside cache keeps 120 s)")
        }
    }
}
