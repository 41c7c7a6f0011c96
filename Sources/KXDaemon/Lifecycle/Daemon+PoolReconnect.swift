import Foundation
import KXEventLoop
import KXKDB
import KXOver
import TLSPool

extension Daemon {
    /// The pool connection should live as long as kxoverd; if it ends anyway
    /// (the pool restarted, a protocol error), running exchanges fail and a
    /// new connection is made, retrying with backoff, instead of leaving
    /// kxoverd unable to cross until someone restarts it.
    func watchPool() {
        poolClient.onClose = { [weak self] failure in
            guard let self, !self.finished else { return }
            self.logger.error("TLS Pool connection lost (\(failure)); reconnecting")
            self.reconnectPool()
        }
    }

    private func reconnectPool() {
        poolRetryTimer = loop.schedule(after: poolRetry) { [weak self] in
            guard let self, !self.finished else { return }
            self.poolRetryTimer = nil
            do {
                let client = try self.poolServer.map { TLSPoolClient(connection: try $0.connectInProcess(), loop: self.loop) }
                    ?? TLSPoolClient.connect(path: self.configuration.tlsPool, loop: self.loop)
                self.poolClient = client
                self.engine.usePool(client)
                self.watchPool()
                self.poolRetry = 0.2
                self.logger.notice("TLS Pool connection re-established")
            } catch {
                self.poolRetry = min(10, self.poolRetry * 2)
                self.logger.error("TLS Pool reconnect failed (\(error)); next attempt in \(self.poolRetry) s")
                self.reconnectPool()
            }
        }
    }
}
