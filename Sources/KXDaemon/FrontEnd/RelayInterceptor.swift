import KXEventLoop
/// How a client reached the front end.
public enum RelayTransport: String, Sendable, Hashable {
    case udp, tcp
}

/// The client a relayed request came from.
public struct RelayClient: Hashable, Sendable, CustomStringConvertible {
    public let transport: RelayTransport
    public let address: SocketAddress

    public init(transport: RelayTransport, address: SocketAddress) {
        self.transport = transport
        self.address = address
    }

    public var description: String { "\(transport) \(address)" }
}

/// The engine's view of ordinary Kerberos traffic: it sees each request
/// before krb5kdc does and each backend reply before the client does, so it
/// can start a crossover and hold the user's request meanwhile. Everything
/// runs on the front end's loop.
///
/// `requestArrived`: call `forward` once to send the request on to krb5kdc,
/// at once or later (the default forwards at once). Holding here is the way
/// to get a fresh answer after changing the KDB: krb5kdc answers a
/// byte-identical request from its lookaside cache for about two minutes
/// (over UDP and TCP alike), so a `replay` soon after gets the first reply again.
///
/// `backendReplied`: call `deliver` once with the bytes the client should get
/// (usually `reply`, or the reply to a later `replay`), at once or seconds later.
///
/// While a request is held in either step, a UDP client's identical
/// retransmissions are absorbed and a TCP client simply waits. Each hold may
/// last up to `Limits.holdTimeout`; then the request is dropped (UDP) or its
/// connection closed (TCP). `forward` and `deliver` take effect at most once
/// and are no-ops after the request ended (client gone, timeout, close).
///
/// `replay` sends the same request bytes to krb5kdc again, the way they went
/// first, and calls its completion exactly once, always later on the loop
/// (never inside `replay`), with the new reply or why there is none; at most
/// `Limits.maxReplaysPerRequest` times per request.
public protocol RelayInterceptor: AnyObject {
    func requestArrived(_ request: [UInt8], client: RelayClient, forward: @escaping () -> Void)
    func backendReplied(request: [UInt8], reply: [UInt8], client: RelayClient,
                        deliver: @escaping RelayDeliver, replay: @escaping RelayReplay)
}

extension RelayInterceptor {
    /// Forwards every request at once.
    public func requestArrived(_ request: [UInt8], client: RelayClient, forward: @escaping () -> Void) {
        forward()
    }
}

/// Sends bytes to the client of a held request; at most once takes effect.
public typealias RelayDeliver = (_ bytes: [UInt8]) -> Void
/// Re-sends a held request to the backend; the completion gets its new reply.
public typealias RelayReplay = (_ completion: @escaping (Result<[UInt8], RelayFailure>) -> Void) -> Void
