import Foundation

/// What a pool needs: local identities with their credentials, the TLSA
/// source for DANE, and a few limits.
public struct TLSPoolConfiguration: Sendable {
    /// One local identity (a KDC host name) and its PEM certificate chain
    /// (end entity first, then any intermediates a DANE-TA record needs) and key.
    public struct Identity: Sendable, Hashable {
        public var localID: String
        public var certificateFile: String
        public var keyFile: String
        /// Federation roots (PEM): a peer of this identity must also chain to one of them.
        public var peerTrustAnchorsFile: String?

        public init(localID: String, certificateFile: String, keyFile: String, peerTrustAnchorsFile: String? = nil) {
            self.localID = localID
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.peerTrustAnchorsFile = peerTrustAnchorsFile
        }
    }

    public var identities: [Identity]
    public var tlsaResolver: any TLSAResolver
    /// TLS 1.3 only: KXOVER needs RFC 8446 exporter semantics, and refusing
    /// 1.2 removes the missing-EMS and "no context = empty context" pitfalls.
    public var priority: String = "NORMAL:-VERS-ALL:+VERS-TLS1.3"
    /// For `timeout` 0 in STARTTLS.
    public var defaultHandshakeTimeoutMS: UInt32 = 10_000
    /// Upper bound for any requested timeout, "infinite" included: no
    /// handshake or callback wait holds a session forever.
    public var maximumHandshakeTimeoutMS: UInt32 = 120_000
    /// Exporter labels the PRNG commands accept.
    public var exporterLabels: ExporterLabelPolicy = .standard
    /// Facilities offered in PING.
    public var facilities: Facilities = .startTLS
    /// After the first half-close, the relay ends at the latest after this.
    public var relayGraceSeconds: Double = 120
    /// Concurrent STARTTLS sessions (handshaking or relaying) across all connections.
    public var maximumSessions: Int = 512
    /// Event-loop threads that run every connection and session (`PoolLane`):
    /// by default one per core, at least two, at most eight.
    public var lanes: Int = PoolLane.defaultCount
    /// Diagnostics; never given key material.
    public var log: @Sendable (String) -> Void = { _ in }

    public init(identities: [Identity], tlsaResolver: any TLSAResolver) {
        self.identities = identities
        self.tlsaResolver = tlsaResolver
    }
}

/// Which RFC 5705 labels the pool exports for. The TLS-internal labels
/// ("client finished", "master secret", ...) are never allowed.
public struct ExporterLabelPolicy: Sendable {
    public var allowedPrefixes: [String]
    public var allowedLabels: Set<String>

    public init(allowedPrefixes: [String], allowedLabels: Set<String> = []) {
        self.allowedPrefixes = allowedPrefixes
        self.allowedLabels = allowedLabels
    }

    /// Private-use `EXPERIMENTAL*` (RFC 5705 §4, includes KXOVER's label) and
    /// registry-style `EXPORTER*` labels.
    public static let standard = ExporterLabelPolicy(allowedPrefixes: ["EXPERIMENTAL", "EXPORTER"])

    static let reserved: Set<String> = ["client finished", "server finished", "master secret", "key expansion", "extended master secret"]

    public func allows(_ label: [UInt8]) -> Bool {
        guard let text = String(bytes: label, encoding: .utf8), !Self.reserved.contains(text) else { return false }
        return allowedLabels.contains(text) || allowedPrefixes.contains { text.hasPrefix($0) }
    }
}
