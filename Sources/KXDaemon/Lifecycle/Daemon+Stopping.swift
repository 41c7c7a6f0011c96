import Foundation
import KXEventLoop
import KXKDB
import KXOver
import TLSPool

extension Daemon {
    /// First signal: no new exchanges, running ones get `drain_timeout` to
    /// finish while the front end keeps relaying; then whatever is left is
    /// abandoned. A second signal stops at once (still abandoning cleanly).
    func stop(_ why: String) {
        if stopping {
            logger.notice("\(why) again: abandoning \(engine.exchangesInFlight) exchange(s) now")
            engine.cancelAll()
            return finish()
        }
        stopping = true
        engine.beginDraining()
        maintainer.stop()
        guard engine.exchangesInFlight > 0 else {
            logger.notice("\(why): stopping")
            return finish()
        }
        let bound = Double(configuration.drainTimeout)
        logger.notice("\(why): draining \(engine.exchangesInFlight) exchange(s) for up to \(Int(bound)) s")
        let deadline = Date(timeIntervalSinceNow: bound)
        func poll() {
            if engine.exchangesInFlight == 0 {
                logger.notice("drained; stopping")
                return finish()
            }
            if Date() >= deadline {
                logger.warning("drain bound of \(Int(bound)) s reached: abandoning \(engine.exchangesInFlight) exchange(s)")
                engine.cancelAll()
                return finish()
            }
            _ = loop.schedule(after: 0.05) { poll() }
        }
        poll()
    }

    func finish() {
        guard !finished else { return }
        finished = true
        frontEnd.close()
        closeEndpoints()
        signals.forEach { $0.cancel() }
        signals.removeAll()
        poolRetryTimer?.cancel()
        poolRetryTimer = nil
        poolClient.close()
        poolServer?.shutdown(timeout: 2)
        // A key write is several kadm5 calls: let one in progress complete, then
        // end each kadm5 thread with its handle closed, so that no thread is
        // inside libkrb5 while the process exits.
        let all = stores.map { ($0.key, $0.value) } + replicaStores.map { ("\($0.key) replica", $0.value) } + retiredStores.map { ("\($0.configuration.realm) (replaced)", $0) }
        for (realm, store) in all where !store.close(timeout: 5) {
            logger.warning("\(realm): a KDB job was still running after 5 s; exiting anyway")
        }
        keeper?.close()
        loop.stop()
    }

    func closeEndpoints() {
        hostRealmServer?.close()
        control?.close()
        control = nil
        metricsEndpoint?.close()
        metricsEndpoint = nil
    }
}
