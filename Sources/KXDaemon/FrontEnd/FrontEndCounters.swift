/// Plain event counts for metrics; they only ever grow.
public struct FrontEndCounters: Sendable, Equatable {
    /// New UDP requests relayed to the backend (retransmissions not included).
    public var udpRequests = 0
    /// Framed TCP messages relayed to the backend.
    public var tcpRequests = 0
    public var tcpConnectionsAccepted = 0
    /// Idle connections closed to make room for a new one at the connection cap.
    public var idleEvictions = 0
    /// Replies handed to clients.
    public var udpReplies = 0
    public var tcpReplies = 0
    /// Requests that got no reply from the backend (down, timeout, bad reply).
    public var relayErrors = 0
    /// TCP clients' requests sent to krb5kdc over UDP first whose answer was
    /// KRB_ERR_RESPONSE_TOO_BIG, and so went again over TCP.
    public var backendTooBigFallbacks = 0
    /// UDP repeats of a request whose reply was too big for UDP, answered
    /// with KRB_ERR_RESPONSE_TOO_BIG by us: krb5kdc 1.20.1 crashes on them.
    public var tooBigAnsweredLocally = 0
    /// Framed KRB-ERRORs sent: 61 for PROBE, unknown flags, over-long frames
    /// and STARTTLS when no acceptor is configured; 60 when the acceptor
    /// refused STARTTLS (limits, draining).
    public var refusals = 0
    /// Connections closed for what they sent: KX-REQ without TLS, KX-REP,
    /// frames below the minimum, and idle timeouts.
    public var protocolDisconnects = 0
    public var startTLSHandoffs = 0
    /// Identical UDP datagrams absorbed while their request was in flight or held.
    public var absorbedRetries = 0
    /// Requests the interceptor held before forwarding them to the backend.
    public var heldBeforeBackend = 0
    /// Backend replies given to a `RelayInterceptor`, and the replays it asked for.
    public var intercepted = 0
    public var replays = 0
    /// Held requests the interceptor never delivered within the hold timeout.
    public var holdsExpired = 0
    /// UDP datagrams dropped at the in-flight cap, and times accepting paused
    /// (connection cap or out of descriptors).
    public var udpOverloadDrops = 0
    public var acceptPauses = 0
    /// Replies that could not be sent to a client (gone, buffer full).
    public var clientSendErrors = 0

    public init() {}
}
