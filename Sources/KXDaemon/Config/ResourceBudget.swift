import KXOver

/// What kxoverd may hold at its configured caps (issue 19, item 6): the
/// descriptors and memory that `LimitNOFILE=` and `MemoryMax=` in
/// kxoverd.service must leave room for. Every term is a cap kxoverd enforces;
/// the estimates (marked) are for what is not kxoverd's own.
public struct ResourceBudget: Equatable, Sendable {
    public var descriptors: Int
    public var bytes: Int

    /// Descriptors a running exchange holds: the TCP connection to the peer,
    /// and the embedded pool's two ends of the plaintext socketpair.
    public static let descriptorsPerExchange = 3
    /// Bytes an exchange holds at most (estimate): two TLS records of 16 KiB
    /// each way, GnuTLS's session, KX messages of at most 16 KiB.
    public static let bytesPerExchange = 128 * 1024
    /// Descriptors of libunbound (estimate: its outgoing ports while queries
    /// are in flight), the listeners, control, metrics, the pid file, the
    /// kadm5 handles and logs.
    public static let otherDescriptors = 1024 + 64
    /// The process itself (estimate, measured about 40 MiB resident): the
    /// Swift runtime, GnuTLS, libkrb5 and libunbound's caches (4 MiB each for
    /// messages, RRsets and keys by default).
    public static let baseBytes = 96 * 1024 * 1024

    public static func of(frontEnd limits: FrontEndConfiguration.Limits, maxExchanges: Int,
                          hostRealmConnections: Int = 32, controlConnections: Int = 16) -> ResourceBudget {
        let descriptors = limits.maxTCPConnections + limits.backendTCPConcurrency
            + limits.maxUDPInFlight + limits.backendUDPSocketPool
            + maxExchanges * descriptorsPerExchange
            + hostRealmConnections + 2 * controlConnections + otherDescriptors
        let bytes = limits.maxTCPConnections * limits.bytesPerTCPConnection
            + limits.maxUDPInFlight * limits.bytesPerUDPRequest
            + maxExchanges * bytesPerExchange + baseBytes
        return ResourceBudget(descriptors: descriptors, bytes: bytes)
    }

    /// The budget of a configuration, with the front end's built-in limits.
    public static func of(_ configuration: Configuration) -> ResourceBudget {
        of(frontEnd: FrontEndConfiguration.Limits(), maxExchanges: configuration.maxExchangesInFlight)
    }
}
