import Foundation
import KXDNS
import KXEventLoop
import KXKDB
import KXOver
import Logging
import TLSPool

/// `kxover cross REALM [--dry-run]`: an exchange run from the command line.
/// The dry run walks what a client exchange walks — DNSSEC lookups, TCP,
/// STARTTLS, the TLS 1.3 handshake with DANE, the certificate realm checks —
/// and stops before KX-REQ, so neither KDB is written (the peer stores its
/// key only after a KX-REQ). Without --dry-run it runs the whole exchange
/// and writes the local KDB like kxoverd would. Each step goes to `output`
/// as it happens, timed from the start.
public final class CrossoverRehearsal {
    private let output: (String) -> Void
    private let configuration: Configuration
    private let local: Configuration.Realm
    private let loop: EventLoop
    private let resolver: UnboundResolver
    private let poolServer: TLSPoolServer
    private let poolClient: TLSPoolClient
    private let started = DispatchTime.now().uptimeNanoseconds

    public init(configuration: Configuration, localRealm: String, output: @escaping (String) -> Void) throws {
        self.output = output
        self.configuration = configuration
        local = try configuration.realm(localRealm)
        let problems = configuration.daemonProblems().filter { !$0.hasPrefix("[kxoverd]") }
        guard problems.isEmpty, local.kdcHost != nil, local.certificate != nil, local.privateKey != nil else {
            throw ConfigurationError(path: configuration.path, problems: problems.isEmpty ? ["\(localRealm) needs kdc_host, certificate and private_key"] : problems)
        }
        loop = try EventLoop()
        resolver = try UnboundResolver(configuration: configuration.resolver, loop: loop)
        poolServer = try TLSPoolServer(configuration: TLSPoolConfiguration(
            identities: [local.poolIdentity],
            tlsaResolver: LoopTLSAResolver(resolver: resolver, executor: loop.executor, timeout: configuration.resolver.queryTimeout + 1)))
        poolClient = TLSPoolClient(connection: try poolServer.connectInProcess(), loop: loop)
    }

    deinit {
        poolClient.close()
        poolServer.shutdown(timeout: 2)
    }

    private func note(_ line: String) {
        let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        output(String(format: "%7.1f ms  ", ms) + line)
    }

    /// Runs the dry run; nil when every step passed, else why it stopped.
    public func dryRun(to remote: String, timeout: Double = 30) -> KXError? {
        let lookups = KXOverLookups(resolver: resolver)
        let dialer = PoolPeerDialer(loop: loop, pool: poolClient)
        var outcome: KXError??
        var connection: PeerConnection?
        func done(_ error: KXError?) { outcome = .some(error) }
        note("\(local.name) → \(remote): dry run (stops before KX-REQ; nothing is written on either side)")
        // The policy first: a realm it refuses is never contacted.
        let decision = local.peers.decide(peer: remote, direction: .outgoing)
        note("policy: outgoing to \(remote) \(decision)")
        if let refusal = local.peers.refusal(peer: remote, local: local.name, direction: .outgoing) {
            note("stopped: \(refusal)")
            return refusal
        }
        lookups.kdcs(ofRealm: remote, random: SystemRandomNumberGenerator()) { [self] result in
            guard case .success(let targets) = result else { if case .failure(let e) = result { done(e) }; return }
            note("SRV \(KXOverLookups.srvName(remote)): secure, \(targets.map(\.description).joined(separator: ", "))")
            let target = targets[0]
            lookups.addresses(ofHost: target.target) { [self] result in
                guard case .success(let addresses) = result else {
                    if case .failure(let e) = result { done(e) }; return
                }
                note("addresses of \(target.target): \(addresses.joined(separator: " "))")
                let policy = PeerAddressPolicy(allowed: configuration.peerAddressAllow)
                guard let address = addresses.first(where: { policy.refusal($0) == nil }) else {
                    return done(KXError(.connect, "refused to connect to \(target.target): \(addresses.compactMap(policy.refusal).joined(separator: "; "))"))
                }
                _ = dialer.connect(host: target.target, address: address, port: target.port) { [self] result in
                    guard case .success(let peer) = result else { if case .failure(let e) = result { done(e) }; return }
                    connection = peer
                    note("TCP connected to [\(address)]:\(target.port)")
                    peer.startTLS { [self] result in
                        if case .failure(let e) = result { return done(e) }
                        note("STARTTLS accepted (00 00 00 00)")
                        peer.handshake(serverHost: target.target, localHost: local.kdcHost!) { [self] result in
                            if case .failure(let e) = result { return done(e) }
                            note("TLS 1.3 handshake done; the server's certificate matches TLSA \(KXOverLookups.tlsaName(target.target)) (DNSSEC)")
                            peer.session.checkRealms(peerRealm: remote, ownRealm: local.name) { [self] result in
                                if case .failure(let e) = result { return done(e) }
                                note("certificates name krbtgt/\(remote)@\(remote) (peer) and krbtgt/\(local.name)@\(local.name) (ours)")
                                done(nil)
                            }
                        }
                    }
                }
            }
        }
        if !loop.run(until: { outcome != nil }, timeout: timeout) {
            outcome = .some(KXError(.timeout, "the dry run did not finish within \(Int(timeout)) s"))
        }
        connection?.close()
        let error = outcome ?? nil
        note(error.map { "stopped: \($0)" } ?? "a crossover would proceed; stopped before KX-REQ as asked")
        return error
    }

    /// Runs a real exchange and writes the local KDB. `stopAtStage`: the
    /// test-only fault hook (kxover cross --debug-stop-at-stage).
    public func cross(to remote: String, timeout: Double = 60, stopAtStage: String? = nil) -> Result<ClientCrossover.Success, KXError> {
        var logger = Logger(label: "kxover")
        logger.logLevel = .critical
        let store = KadmKeyStore(configuration: local.kadmin, executor: loop.executor)
        // The kadm5 thread ends, its handle closed, before kxover exits.
        defer { store.close(timeout: 5) }
        let engine = CrossoverEngine(loop: loop, realms: [.init(policy: local.crossoverPolicy, keyStore: store)],
                                     resolver: resolver, pool: poolClient, logger: logger)
        engine.peerAddresses = PeerAddressPolicy(allowed: configuration.peerAddressAllow)
        engine.clientStageObserver = { [self] event in note("\(event)") }
        engine.faults = stopAtStage.map { StageFaults(stopAt: $0, logger: logger) }
        var result: Result<ClientCrossover.Success, KXError>?
        note("\(local.name) → \(remote): crossover")
        note("policy: outgoing to \(remote) \(local.peers.decide(peer: remote, direction: .outgoing))")
        engine.crossover(from: local.name, to: remote) { result = $0 }
        if !loop.run(until: { result != nil }, timeout: timeout) {
            result = .failure(KXError(.timeout, "no result within \(Int(timeout)) s"))
        }
        switch result! {
        case .success(let s): note("done: kvno \(s.kvno), etypes \(s.etypes.map(Etype.name).joined(separator: ",")), valid \(s.from) – \(s.till), peer \(s.peerHost)")
        case .failure(let e): note("failed: \(e)")
        }
        return result!
    }
}
