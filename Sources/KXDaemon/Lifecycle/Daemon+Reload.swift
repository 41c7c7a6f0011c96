import Foundation
import KXEventLoop
import KXKDB
import KXOver
import TLSPool

extension Daemon {
    // MARK: - SIGHUP

    /// Re-reads the configuration file. Certificates and keys, etypes, key
    /// lifetime, KDC host, kadm5 settings, key_check_interval,
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
            let reason = (error as? ConfigurationError).map { $0.lines.joined(separator: "; ") } ?? "\(error)"
            return logger.error("SIGHUP: reload rejected, still running with the previous configuration: \(reason)")
        }
        var applied = next
        for setting in Self.restartOnlySettings where setting.keepOld(&applied, configuration) {
            logger.warning("SIGHUP: \(setting.name) changed; it takes effect at the next restart")
        }
        configuration = applied
        applyRealms(applied)
        reloads += 1
        metrics.reload(applied: true)
        logger.notice("SIGHUP: configuration \(applied.path) reloaded (certificates\(poolServer == nil ? " are the pool's" : " reloaded"), realms \(applied.realms.keys.sorted().joined(separator: ", ")))")
    }

    /// What a reload cannot change under a running daemon (sockets, DNS):
    /// one table both names a change and carries the old value over.
    private struct RestartOnlySetting: Sendable {
        let name: String
        /// Puts the old value back into `new`; true when it differed.
        let keepOld: @Sendable (_ new: inout Configuration, _ old: Configuration) -> Bool

        init<Value: Equatable & Sendable>(_ name: String, _ path: WritableKeyPath<Configuration, Value> & Sendable) {
            self.name = name
            keepOld = { new, old in
                guard new[keyPath: path] != old[keyPath: path] else { return false }
                new[keyPath: path] = old[keyPath: path]
                return true
            }
        }
    }

    private static let restartOnlySettings = [
        RestartOnlySetting("listen", \.listen), RestartOnlySetting("backend_kdc", \.backendKDC),
        RestartOnlySetting("tls_pool", \.tlsPool), RestartOnlySetting("hostrealm_socket", \.hostRealmSocket),
        RestartOnlySetting("host_based_triggers", \.hostBasedTriggers),
        RestartOnlySetting("hostrealm_cache_ttl", \.hostRealmCacheTTL), RestartOnlySetting("hostrealm_negative_ttl", \.hostRealmNegativeTTL),
        RestartOnlySetting("control_socket", \.controlSocket),
        RestartOnlySetting("metrics_listen", \.metricsListen), RestartOnlySetting("pid_file", \.pidFile),
        RestartOnlySetting("the DNS settings (dns_*)", \.resolver),
    ]
}
