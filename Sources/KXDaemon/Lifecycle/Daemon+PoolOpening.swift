import KXDNS
import KXEventLoop
import KXOver
import Logging
import TLSPool

extension Daemon {
    /// The TLS Pool as kxoverd starts it: embedded, with every realm's
    /// certificate and key loaded (a bad file fails here, not in a
    /// handshake), or a separate pool's socket connected. `kxoverd -n` opens
    /// it the same way and closes it again.
    static func openPool(_ configuration: Configuration, resolver: Resolver, loop: EventLoop,
                         logger: Logger) throws -> (server: TLSPoolServer?, client: TLSPoolClient) {
        guard configuration.tlsPool == "embedded" else {
            return (nil, try TLSPoolClient.connect(path: configuration.tlsPool, loop: loop))
        }
        var pool = TLSPoolConfiguration(
            identities: configuration.realms.values.sorted { $0.name < $1.name }.map(\.poolIdentity),
            tlsaResolver: LoopTLSAResolver(resolver: resolver, executor: loop.executor, timeout: configuration.resolver.queryTimeout + 1))
        pool.log = { [logger] line in logger.debug("pool: \(line)") }
        let server = try TLSPoolServer(configuration: pool)
        return (server, TLSPoolClient(connection: try server.connectInProcess(), loop: loop))
    }
}
