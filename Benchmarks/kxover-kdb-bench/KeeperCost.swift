import Foundation
import KXDaemon
import KXEventLoop
import KXKDB
import KXOver
import Logging

/// What privilege separation adds to a key store: the same all-or-nothing
/// store of a new crossover principal, asked of a KadmKeyStore on the
/// caller's loop (in process, privsep = false) and through the keeper
/// channel (a KeeperServer on its own loop thread, over a socketpair, as the
/// engine asks the keeper). Returns (in process, through the keeper) in ms, sorted.
enum KeeperCost {
    static func measure(realm: String, profiles: [String], count: Int, now: KerberosTime) throws -> (direct: [Double], keeper: [Double]) {
        let configuration = KadminConfiguration(realm: realm, mode: .local, profileFiles: profiles)
        let loop = try EventLoop()
        func write(_ index: Int, _ prefix: String) -> CrossoverKeyWrite {
            let layout = try! KeySchedule.Layout(consecutive: [17, 18, 19, 20])
            let material = KeyMaterial(count: layout.exportLength)
            material.withUnsafeMutableBytes { for i in 0..<$0.count { $0[i] = UInt8(truncatingIfNeeded: index &+ i) } }
            return CrossoverKeyWrite(principal: .crossover(client: realm, service: "\(prefix)\(index).BENCH.TEST"), kvno: 31_280,
                                     material: material, layout: layout, from: now, till: now.adding(seconds: 86_400))
        }
        /// Round trips of `store`, one at a time, each timed from the request to its completion on the loop.
        func timed(_ store: KeyStore, _ prefix: String) -> [Double] {
            var samples: [Double] = []
            for index in 0..<count {
                var done = false
                let start = DispatchTime.now().uptimeNanoseconds
                store.store(write(index, prefix)) { result in
                    if case .failure(let error) = result { fatalError("store failed: \(error)") }
                    done = true
                }
                _ = loop.run(until: { done }, timeout: 30)
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            return samples.sorted()
        }

        let inProcess = KadmKeyStore(configuration: configuration, executor: loop.executor)
        let direct = timed(inProcess, "D")
        inProcess.close(timeout: 5)

        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0 else { throw KXError(.keyStoring, "socketpair") }
        let keeperEnd = ends[0]
        let keeperThread = Thread {
            guard let keeperLoop = try? EventLoop() else { return }
            let store = KadmKeyStore(configuration: configuration, executor: keeperLoop.executor)
            let server = KeeperServer(fd: keeperEnd, loop: keeperLoop,
                                      realms: [.init(name: realm, store: store, replica: nil, lifetime: 14 * 86_400)],
                                      checkInterval: 600, storesPerMinute: 1_000_000, logger: Logger(label: "bench-keeper"))
            server.start { _ in keeperLoop.stop() }
            keeperLoop.run()
            store.close(timeout: 5)
        }
        keeperThread.start()
        let client = KeeperClient(fd: ends[1], loop: loop)
        client.start { reason in fatalError("keeper lost: \(reason)") }
        let keeper = timed(KeeperStoreProbe(client: client, realm: realm), "K")
        client.close()
        return (direct, keeper)
    }
}

/// The engine's store request, as ChannelKeyStore makes it.
private final class KeeperStoreProbe: KeyStore {
    let client: KeeperClient
    let realm: String
    init(client: KeeperClient, realm: String) { self.client = client; self.realm = realm }
    func inspect(_ principal: Principal, completion: @escaping (Result<KeyStoreEntry, KXError>) -> Void) {}
    func store(_ write: CrossoverKeyWrite, completion: @escaping (Result<KeyWriteOutcome, KXError>) -> Void) {
        client.request(.store(realm: realm, write: write)) { result in
            completion(result.flatMap { reply in
                if case .written(let outcome) = reply { return .success(outcome) }
                return .failure(KXError(.keyStoring, "unexpected reply"))
            })
        }
    }
}
