import Foundation

/// What the pool reads out of a chain (the peer's, or its own certificate)
/// for its own checks: each certificate's validity period, the leaf's
/// names, and whether the leaf names the host a client asked for. They
/// depend only on the chain's bytes (and that host); the time is compared
/// on every handshake.
struct ChainFacts: Sendable {
    let validity: [ValidityPeriod]
    let names: CertificateNames
    /// Whether the leaf names the expected host (SAN dNSName, or CN without
    /// SANs); true when no host was asked about.
    let namesExpectedHost: Bool

    /// nil when a certificate is unreadable.
    init?(chain: [[UInt8]], expectedHost: String?) {
        let certificates = chain.compactMap(X509Certificate.init(der:))
        guard certificates.count == chain.count, let leaf = certificates.first,
              let names = CertificateNames(der: chain[0]) else { return nil }
        validity = certificates.map(\.validity)
        self.names = names
        namesExpectedHost = expectedHost.map(leaf.names(host:)) ?? true
    }
}

/// Facts about the chains already seen, so a peer seen again (and the
/// pool's own certificate) costs a lookup instead of GnuTLS parsing every
/// certificate. Shared by the lanes (under a lock). Any peer can present
/// any chain before DANE has judged it, so what is kept is bounded: at most
/// `chainsKept` chains (emptied when full), none larger than
/// `largestChainKept` bytes (a KDC's chain is one or two certificates, a
/// few kilobytes). Unreadable chains are not kept.
final class ChainFactsMemory: @unchecked Sendable {
    private let lock = NSLock()
    private var kept: [Key: ChainFacts] = [:]
    static let chainsKept = 256
    static let largestChainKept = 8 * 1024

    private struct Key: Hashable {
        let chain: [[UInt8]]
        let expectedHost: String?
    }

    /// The facts of `chain`, checked against `expectedHost` when given; nil
    /// when a certificate in it is unreadable.
    func facts(of chain: [[UInt8]], expectedHost: String?) -> ChainFacts? {
        let key = Key(chain: chain, expectedHost: expectedHost)
        if let known = lock.withLock({ kept[key] }) { return known }
        guard let facts = ChainFacts(chain: chain, expectedHost: expectedHost) else { return nil }
        guard chain.reduce(0, { $0 + $1.count }) <= Self.largestChainKept else { return facts }
        lock.withLock {
            if kept.count >= Self.chainsKept { kept.removeAll() }
            kept[key] = facts
        }
        return facts
    }

    var count: Int { lock.withLock { kept.count } }
}
