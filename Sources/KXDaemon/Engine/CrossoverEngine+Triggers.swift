import Foundation
import KXOver
import TLSPool

extension CrossoverEngine {
    /// Before a request reaches krb5kdc: a TGS-REQ for krbtgt/REMOTE@LOCAL
    /// whose key is not known to exist is held while the exchange runs, then
    /// forwarded (after a failure too: the KDC then answers as it would have).
    ///
    /// With host-based triggers, a referral-style TGS-REQ for service/host
    /// (NT-SRV-HST, canonicalize) is held while DNSSEC names the host's realm:
    /// a remote realm without a known key is crossed to first, so that
    /// krb5kdc, asking the hostrealm module, finds krbtgt/REMOTE@LOCAL and
    /// answers with the referral; our own realm, no realm, or an insecure or
    /// bogus answer lets the request through at once, untouched.
    public func requestArrived(_ request: [UInt8], client: RelayClient, forward: @escaping () -> Void) {
        /// Holds the request for `decision` unless its key is known to exist.
        func crossUnlessKeyExists(_ decision: CrossoverTrigger.Decision, asked: String) {
            guard case .realm(let remote) = decision.target, let local = realms[decision.localRealm] else { return forward() }
            let principal = Principal.crossover(client: decision.localRealm, service: remote)
            let now = ports.now
            if let till = knownKeys[principal], now < till { return forward() }
            local.keyStore.inspect(principal) { [weak self] entry in
                guard let self else { return forward() }
                switch entry {
                case .success(.managed(let set)) where set.versions.contains(where: { ($0.till ?? now) > now && $0.from.map { $0 <= now } ?? true }):
                    self.knownKeys[principal] = min(set.versions.compactMap(\.till).max() ?? now, now.adding(seconds: self.knownKeyTTL))
                    forward()
                case .success(.foreign), .failure:
                    forward()
                case .success:
                    self.counters.triggers += 1
                    self.logger.info("trigger: \(client) asked \(decision.localRealm) for \(asked); holding the request")
                    self.crossover(from: decision.localRealm, to: decision.target) { _ in forward() }
                }
            }
        }

        if hostBasedTriggers, let asked = CrossoverTrigger.hostBasedRequest(of: request, localRealms: localRealms) {
            // DNS gets a bounded share of the hold; the request then goes on as it came.
            var settled = false
            var bound: Cancellable?
            let lookup = lookups.realm(ofHost: asked.host) { [weak self] result in
                guard !settled else { return }
                settled = true
                bound?.cancel()
                guard let self else { return forward() }
                let realm = try? result.get()
                guard let decision = CrossoverTrigger.hostBasedDecision(asked, hostRealm: realm, localRealms: self.localRealms) else {
                    self.logger.debug("\(asked.service)/\(asked.host): realm \(realm ?? "not vouched for by DNSSEC"); no crossover")
                    return forward()
                }
                crossUnlessKeyExists(decision, asked: "\(asked.service)/\(asked.host) (realm \(realm ?? "?"))")
            }
            if !settled {
                bound = ports.schedule(after: 5) { [weak self] in
                    guard !settled else { return }
                    settled = true
                    lookup.cancel()
                    self?.logger.info("\(asked.service)/\(asked.host): no DNS answer within 5 s; forwarding")
                    forward()
                }
            }
            return
        }
        guard let decision = CrossoverTrigger.crossRealmTarget(of: request, localRealms: localRealms),
              case .realm(let remote) = decision.target else { return forward() }
        crossUnlessKeyExists(decision, asked: "krbtgt/\(remote)")
    }
}

extension CrossoverEngine: RelayInterceptor {
    /// KRB-ERROR 7 for krbtgt/REMOTE@LOCAL: hold the user's request, run the
    /// exchange, then replay the request to the KDC (which now knows the key).
    public func backendReplied(request: [UInt8], reply: [UInt8], client: RelayClient,
                               deliver: @escaping RelayDeliver, replay: @escaping RelayReplay) {
        guard let decision = CrossoverTrigger.decide(request: request, reply: reply, localRealms: localRealms,
                                                     hostBased: hostBasedTriggers) else {
            return deliver(reply)
        }
        counters.triggers += 1
        logger.info("trigger: \(client) asked \(decision.localRealm) for \(decision.target); holding the request")
        crossover(from: decision.localRealm, to: decision.target) { [weak self] result in
            guard case .success = result else { return deliver(reply) }
            self?.counters.replays += 1
            replay { replayed in
                switch replayed {
                case .success(let newReply): deliver(newReply)
                case .failure: deliver(reply)
                }
            }
        }
    }
}
