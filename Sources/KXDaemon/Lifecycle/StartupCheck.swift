import Foundation
import Glibc
import KXDNS
import KXEventLoop
import KXKDB
import Logging

/// `kxoverd -n`: what kxoverd's start checks, through the code the start
/// runs, without taking anything over: the resolver is built (trust anchors
/// loaded, never queried), the TLS Pool opened (certificates and keys loaded)
/// and closed, each listen address bound and released at once, and every
/// realm's KDB opened read-only. An address already in use passes: it may be
/// this kxoverd itself, running while its next configuration is checked.
public enum StartupCheck {
    /// Every problem found, one line each, in the "[kxoverd] NAME ..." /
    /// "[realms] REALM: ..." form `ConfigurationError` locates; empty when
    /// kxoverd would start.
    public static func problems(of configuration: Configuration) -> [String] {
        var problems = configuration.daemonProblems()
        // The pool needs every realm's kdc_host, certificate and key, which daemonProblems reports missing.
        problems += resolverAndPoolProblems(configuration, openPool: problems.isEmpty)
        problems += addressProblems(configuration)
        problems += socketPathProblems(configuration)
        problems += kdbProblems(configuration)
        problems += privsepProblems(configuration)
        return problems
    }

    /// With privsep (the default) the engine's account must exist and not be root.
    static func privsepProblems(_ configuration: Configuration) -> [String] {
        guard configuration.privsep else { return [] }
        do { _ = try PrivilegeDrop.account(named: configuration.kxoverUser) } catch { return ["[kxoverd] \(error)"] }
        return []
    }

    /// Each realm's KDB as the start checks it (KDBAccessCheck: it opens in
    /// its kadm5 mode, and kadmind grants kxover's rights), strictly: a KDB
    /// that does not open is a problem here, not a warning. Then a replica's
    /// KDB, which the start opens only on first use. This is the one place
    /// for per-realm KDB checks.
    static func kdbProblems(_ configuration: Configuration) -> [String] {
        var problems: [String] = []
        var checked = configuration
        for realm in configuration.realms.values.sorted(by: { $0.name < $1.name }) {
            // kadm5's own words for a missing keytab do not name the relation.
            if let keytab = realm.kadmin.keytab, !FileManager.default.isReadableFile(atPath: keytab) {
                problems.append("[realms] \(realm.name): admin_keytab \(keytab) is not readable")
                checked.realms[realm.name] = nil
            }
            // -n writes nothing, not even the iprop update log's header.
            checked.realms[realm.name]?.kadmin.readOnly = true
        }
        problems += KDBAccessCheck.run(checked, strict: true).problems
        for realm in configuration.realms.values.sorted(by: { $0.name < $1.name }) {
            guard let replica = realm.replica else { continue }
            do { _ = try KadminSession(replica) } catch {
                problems.append("[realms] \(realm.name): replica_kdc_profile: the replica's KDB does not open: \(error)")
            }
        }
        return problems
    }

    private static func resolverAndPoolProblems(_ configuration: Configuration, openPool: Bool) -> [String] {
        let loop: EventLoop
        let resolver: UnboundResolver
        do {
            loop = try EventLoop()
            resolver = try UnboundResolver(configuration: configuration.resolver, loop: loop)
        } catch {
            return ["[kxoverd] dns_*: the resolver does not start: \(error)"]
        }
        guard openPool else { return [] }
        var logger = Logger(label: "kxoverd")
        logger.logLevel = .critical
        func problem(opening configuration: Configuration) -> Error? {
            do {
                let pool = try Daemon.openPool(configuration, resolver: resolver, loop: loop, logger: logger)
                pool.client.close()
                pool.server?.shutdown(timeout: 2)
                return nil
            } catch {
                return error
            }
        }
        guard configuration.tlsPool == "embedded" else {
            return problem(opening: configuration).map { ["[kxoverd] tls_pool \(configuration.tlsPool): \($0)"] } ?? []
        }
        // One realm at a time, so that a file that does not load is reported at its realm.
        return configuration.realms.values.sorted { $0.name < $1.name }.compactMap { realm in
            var alone = configuration
            alone.realms = [realm.name: realm]
            return problem(opening: alone).map { "[realms] \(realm.name): certificate and private_key do not load: \($0)" }
        }
    }

    /// Binds a UDP socket on each listen and metrics_listen address and
    /// releases it at once (no listen(), so no client can connect meanwhile):
    /// an address this host does not have, or a port kxoverd may not bind,
    /// fails here as at the start.
    private static func addressProblems(_ configuration: Configuration) -> [String] {
        let listen = configuration.listen.compactMap { word in try? ("listen", word, Configuration.address(word)) }
        let metrics = configuration.metricsListen.flatMap { word in
            try? ("metrics_listen", word, SocketAddress(parsing: word, defaultPort: MetricsEndpoint.defaultPort))
        }
        // Words that do not parse are daemonProblems' to report.
        return (listen + (metrics.map { [$0] } ?? [])).compactMap { relation, word, address in
            do {
                Glibc.close(try Sockets.udpListener(address))
                return nil
            } catch SocketError.system(_, EADDRINUSE) {
                return nil
            } catch SocketError.system(let what, let code) {
                return "[kxoverd] \(relation) \"\(word)\": \(what): \(String(cString: strerror(code)))"
            } catch {
                return "[kxoverd] \(relation) \"\(word)\": \(error)"
            }
        }
    }

    /// hostrealm_socket and control_socket as UnixListener checks them.
    private static func socketPathProblems(_ configuration: Configuration) -> [String] {
        [("hostrealm_socket", configuration.hostRealmSocket), ("control_socket", configuration.controlSocket)].compactMap { relation, path in
            guard let path else { return nil }
            do {
                try UnixListener.checkPath(path, what: relation)
                return nil
            } catch {
                return "[kxoverd] \(error)"
            }
        }
    }
}
