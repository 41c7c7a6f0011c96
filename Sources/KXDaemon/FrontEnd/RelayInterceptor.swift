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

/// The engine's view of ordinary Kerberos traffic: it sees each backend reply
/// before the client does, so it can start a crossover on KRB-ERROR 7 and hold
/// the user's request meanwhile. Everything runs on the front end's loop.
///
/// For each reply, call `deliver` once with the bytes the client should get
/// (usually `reply`, or the reply to a later `replay`); it may be called at
/// once or seconds later, and later calls are ignored. Until then the request
/// is held: a UDP client's identical retransmissions are absorbed, a TCP
/// client simply waits. A request not delivered within `Limits.holdTimeout`
/// is dropped (UDP) or its connection closed (TCP); `deliver` is then a no-op.
///
/// `replay` sends the same request bytes to krb5kdc again, over the client's
/// transport, and calls its completion exactly once, always later on the loop
/// (never inside `replay`), with the new reply or why there is none.
public protocol RelayInterceptor: AnyObject {
    func backendReplied(request: [UInt8], reply: [UInt8], client: RelayClient,
                        deliver: @escaping RelayDeliver, replay: @escaping RelayReplay)
}

/// Sends bytes to the client of a held request; at most once takes effect.
public typealias RelayDeliver = (_ bytes: [UInt8]) -> Void
/// Re-sends a held request to the backend; the completion gets its new reply.
public typealias RelayReplay = (_ completion: @escaping (Result<[UInt8], RelayFailure>) -> Void) -> Void
