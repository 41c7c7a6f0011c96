import Foundation
import KXOver
import TLSPool

extension CrossoverEngine {
    /// Before a request reaches krb5kdc: a TGS-REQ for krbtgt/REMOTE@LOCAL
    /// is held while kxoverd reads the KDB (one kadm5 read: a key removed by
    /// any means, kxover revoke, kadmin delprinc or the pruner, is noticed by
    /// the very next request) and, when no usable key is there, while the
    /// exchange runs; then forwarded (after a failure too: the KDC then
    /// answers as it would have). Nothing about keys is cached: krb5kdc
    /// answers a byte-identical request from its lookaside cache for two
    /// minutes, so a request must never reach it before its key exists.
    ///
    /// With host-based triggers, a referral-style TGS-REQ for service/host
    /// (NT-SRV-HST, canonicalize) is held while DNSSEC names the host's realm:
    /// a remote realm without a known key is crossed to first, so that
    /// krb5kdc, asking the hostrealm module, finds krbtgt/REMOTE@LOCAL and
    /// answers with the referral; our own realm, no realm, or an insecure or
    /// bogus answer lets the request through at once, untouched.
    public func requestArrived(_ request: [UInt8], client: RelayClient, forward: @escaping () -> Void) {
        /// Holds the request for `decision` unless the KDB holds a usable key.
        func crossUnlessKeyExists(_ decision: CrossoverTrigger.Decision, asked: String) {
            guard let local = realms[decision.localRealm] else { return forward() }
            // A realm the policy refuses is never held for: the user gets krb5kdc's answer at once.
            if policyRefusal(local: local.policy, remote: decision.remoteRealm) != nil { return forward() }
            readIfCrossingNeeded(local, remote: decision.remoteRealm) { [weak self] read in
                guard let self, let read else { return forward() }
                self.counters.triggers += 1
                // The exchange starts from this read: the KDB is read once per request.
                let exchange = "\(decision.localRealm)>\(decision.remoteRealm)"
                switch self.holds.admit(exchange: exchange, address: client.address.addressBytes) {
                case .success(let ticket):
                    // One info line per exchange started; requests that join it
                    // or meet its backoff (a flood, too) are logged at debug
                    // and counted in metrics.
                    let pair = ExchangeDesk<Waiter>.Pair(localRealm: decision.localRealm, target: decision.remoteRealm)
                    let line = "trigger: \(client) asked \(decision.localRealm) for \(asked); holding the request"
                    if !self.desk.isBusy(pair, now: self.now) { self.logger.info("\(line)") }
                    else { self.logger.debug("\(line) (an exchange runs or the pair is in backoff)") }
                    self.crossover(from: decision.localRealm, to: decision.remoteRealm, knownEntry: read) { [weak self] _ in
                        self?.holds.release(ticket)
                        forward()
                    }
                case .failure(let refused):
                    // Over a cap: the request goes on now (the KDC answers as it
                    // would); the exchange still runs, for the next request.
                    self.counters.holdsRefused += 1
                    self.metrics?.requested("hold_refused")
                    self.logger.debug("trigger: \(client) asked \(decision.localRealm) for \(asked); \(refused): forwarding at once")
                    self.crossover(from: decision.localRealm, to: decision.remoteRealm, knownEntry: read) { _ in }
                    forward()
                }
            }
        }

        // Decoded once for both questions.
        guard let peek = CrossoverTrigger.tgsRequestPeek(request) else { return forward() }
        if hostBasedTriggers, let asked = CrossoverTrigger.hostBasedRequest(of: peek, localRealms: localRealms) {
            // The DNS walk is a hold too, under the same caps; over them the request goes on untouched.
            guard case .success(let ticket) = holds.admit(exchange: "dns:\(asked.host)", address: client.address.addressBytes) else {
                counters.holdsRefused += 1
                metrics?.requested("hold_refused")
                return forward()
            }
            let forwardAfterDNS = forward
            let forward: () -> Void = { [weak self] in
                self?.holds.release(ticket)
                forwardAfterDNS()
            }
            // DNS gets a bounded share of the hold; the request then goes on as it came.
            var settled = false
            var bound: Cancellable?
            let lookup = hostRealms.resolve(asked.host) { [weak self] result in
                guard !settled else { return }
                settled = true
                bound?.cancel()
                guard let self else { return forward() }
                let realm = try? result.get()
                guard let decision = CrossoverTrigger.hostBasedDecision(asked, hostRealm: realm, localRealms: self.localRealms) else {
                    self.logger.debug("\(LogText.escaped(asked.service))/\(asked.host): realm \(realm ?? "not vouched for by DNSSEC"); no crossover")
                    return forward()
                }
                crossUnlessKeyExists(decision, asked: "\(LogText.escaped(asked.service))/\(asked.host) (realm \(realm ?? "?"))")
            }
            if !settled {
                bound = ports.schedule(after: 5) { [weak self] in
                    guard !settled else { return }
                    settled = true
                    lookup.cancel()
                    self?.logger.info("\(LogText.escaped(asked.service))/\(asked.host): no DNS answer within 5 s; forwarding")
                    forward()
                }
            }
            return
        }
        guard let decision = CrossoverTrigger.crossRealmTarget(of: peek, localRealms: localRealms) else { return forward() }
        crossUnlessKeyExists(decision, asked: "krbtgt/\(decision.remoteRealm)")
    }
}

extension CrossoverEngine: RelayInterceptor {
    /// KRB-ERROR 7 for krbtgt/REMOTE@LOCAL although the KDB read before the
    /// request showed a key (removed in between, or the read failed): the
    /// error goes to the user at once and the exchange runs in the background,
    /// so that the user's next request finds the key. The request is not
    /// replayed: krb5kdc would answer it from its lookaside cache with the
    /// same error.
    public func backendReplied(request: [UInt8], reply: [UInt8], client: RelayClient,
                               deliver: @escaping RelayDeliver, replay: @escaping RelayReplay) {
        deliver(reply)
        guard let decision = CrossoverTrigger.decide(request: request, reply: reply, localRealms: localRealms,
                                                     hostBased: hostBasedTriggers) else { return }
        counters.triggers += 1
        logger.info("trigger: krb5kdc told \(client) it has no \(decision.remoteRealm) key for \(decision.localRealm); crossing for the next request")
        crossover(from: decision.localRealm, to: decision.remoteRealm) { _ in }
    }
}
