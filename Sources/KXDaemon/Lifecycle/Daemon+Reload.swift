import Foundation
import KXEventLoop
import KXKDB
import KXOver
import TLSPool

extension Daemon {
    // MARK: - SIGHUP

    /// Re-reads the configuration file. Certificates and keys, etypes, key
    /// lifetime, KDC host, kadm5 settings, known_key_ttl, key_check_interval,
    /// drain_timeout and the exchange limits apply at once; sockets, DNS and the realm set need a
    /// restart and are reported, not applied. All or nothing: a file that
    /// fails to load, or certificates that fail to load, change nothing.
    /// Relayed traffic is not touched: the listening sockets stay open.
    func reload() {
        let next: Configuration
        do {
            next = try Configuration.load(path: configuration.path)
            let problems = next.daemonProblems()
            guard problems.isEmpty else { throw ConfigurationError(path: next.path, problems: problems) }
            if next.realms.keys.sorted() != configuration.realms.keys.sorted() {
                throw ConfigurationError(path: next.path, problems: ["the set of realms changed (\(configuration.realms.keys.sorted().joined(separator: ", ")) → \(next.realms.keys.sorted().joined(separator: ", "))): restart kxoverd for that"])
            }
            if let poolServer, next.tlsPool == "embedded" {
                try poolServer.reloadIdentities(next.realms.values.sorted { $0.name < $1.name }.map(\.poolIdentity))
            }
        } catch {
            metrics.reload(applied: false)
            // One line: whoever greps the log finds the reason beside the verdict.
            let reason = (error as? ConfigurationError).map { "\($0.path): \($0.problems.joined(separator: "; "))" } ?? "\(error)"
            return logger.error("SIGHUP: reload rejected, still running with the previous configuration: \(reason)")
        }
        let restartOnly = restartOnlyChanges(from: configuration, to: next)
        for change in restartOnly { logger.warning("SIGHUP: \(change) changed; it takes effect at the next restart") }
        var applied = next
        applied.listen = configuration.listen
        applied.backendKDC = configuration.backendKDC
        applied.tlsPool = configuration.tlsPool
        applied.hostRealmSocket = configuration.hostRealmSocket
        applied.hostBasedTriggers = configuration.hostBasedTriggers
        applied.hostRealmCacheTTL = configuration.hostRealmCacheTTL
        applied.controlSocket = configuration.controlSocket
        applied.metricsListen = configuration.metricsListen
        applied.pidFile = configuration.pidFile
        applied.resolver = configuration.resolver
        configuration = applied
        applyRealms(applied)
        reloads += 1
        metrics.reload(applied: true)
        logger.notice("SIGHUP: configuration \(applied.path) reloaded (certificates\(poolServer == nil ? " are the pool's" : " reloaded"), realms \(applied.realms.keys.sorted().joined(separator: ", ")))")
    }

    private func restartOnlyChanges(from old: Configuration, to new: Configuration) -> [String] {
        var changes: [String] = []
        if old.listen != new.listen { changes.append("listen") }
        if old.backendKDC != new.backendKDC { changes.append("backend_kdc") }
        if old.tlsPool != new.tlsPool { changes.append("tls_pool") }
        if old.hostRealmSocket != new.hostRealmSocket { changes.append("hostrealm_socket") }
        if old.hostBasedTriggers != new.hostBasedTriggers { changes.append("host_based_triggers") }
        if old.hostRealmCacheTTL != new.hostRealmCacheTTL { changes.append("hostrealm_cache_ttl") }
        if old.controlSocket != new.controlSocket { changes.append("control_socket") }
        if old.metricsListen != new.metricsListen { changes.append("metrics_listen") }
        if old.pidFile != new.pidFile { changes.append("pid_file") }
        if old.resolver != new.resolver { changes.append("the DNS settings (dns_*)") }
        return changes
    }
}
