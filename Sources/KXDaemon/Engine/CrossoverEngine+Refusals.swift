import KXEventLoop
import KXOver
import TLSPool

/// Refusals told to peers and told by them: the STARTTLS word refused with
/// a KRB-ERROR (limits, draining), what a server record told its client,
/// and refusals our client exchanges received. Counted by KXOVER code only:
/// a peer's text never becomes a metric label.
extension CrossoverEngine {
    /// Asked by the front end before it answers `80 00 00 01`: over the
    /// global limits, or draining, the peer gets a KRB-ERROR with the code
    /// instead of TLS, and neither side does any work.
    public func refusal(ofStartTLSFrom peer: SocketAddress) -> KXError? {
        if let refused = desk.admitStartTLS(from: peer.addressBytes, now: now) {
            counters.refusedByLimits += 1
            metrics?.requested("starttls_per_source")
            if sourceRefusalLog.first(HoldBudget.prefix(of: peer.addressBytes), until: now + 60, now: now) {
                logger.warning("STARTTLS from \(peer) refused: \(refused.detail); further refusals of this network are not logged for a minute")
            }
            metrics?.refusal(sent: refused.code)
            return KXError(refused.code, Refusal.publicReason(refused.code))
        }
        guard let refused = desk.admitServer(now: now) else { return nil }
        let told: KXError
        if draining {
            logger.info("STARTTLS from \(peer) refused: draining")
            told = KXError(.cancelled, "the service KDC is stopping; try again later")
        } else {
            refusedByLimits("STARTTLS from \(peer)", refused)
            told = KXError(refused.code, Refusal.publicReason(refused.code))   // our limits stay ours
        }
        metrics?.refusal(sent: told.code)
        return told
    }

    /// A server record that told its client why it refused.
    func noteRefusalSent(_ record: ServerCrossover, id: String) {
        guard let told = record.told else { return }
        metrics?.refusal(sent: told.code)
        logger.info("\(id) told \(record.peerHost): \(told)")
    }

    /// A TLS alert our pool sent a peer whose certificate it refused (server role).
    func noteAlertSent(to peer: SocketAddress, _ alert: TLSAlertNote) {
        metrics?.refusal(sent: .tls)
        logger.info("STARTTLS from \(peer): refused its certificate, \(alert)")
    }

    func countRefusalReceived<Success>(_ result: Result<Success, KXError>) {
        guard case .failure(let error) = result, error.refusedBy != nil else { return }
        metrics?.refusal(received: error.code)
    }
}
