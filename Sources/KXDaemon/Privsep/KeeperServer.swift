import Foundation
import KXEventLoop
import KXKDB
import KXOver
import Logging

/// The keeper's end of the channel: each request decoded, checked by
/// KeeperRules on its own (whatever the engine says), carried out on the
/// realm's kadm5 worker, and answered. A request the rules refuse is
/// answered with a failure and logged as a protocol violation; a frame that
/// does not decode ends the channel (the stream cannot be trusted after it),
/// and the keeper starts a fresh engine.
public final class KeeperServer {
    /// What the keeper carries out requests on, per local realm.
    public struct Realm {
        public let name: String
        public let store: KadmKeyStore
        public let replica: KadmKeyStore?
        public let lifetime: Int64

        public init(name: String, store: KadmKeyStore, replica: KadmKeyStore?, lifetime: Int64) {
            self.name = name
            self.store = store
            self.replica = replica
            self.lifetime = lifetime
        }
    }

    private let channel: FramedChannel
    private var realms: [String: Realm]
    private var rules: KeeperRules
    private var checkInterval: Int64
    private let logger: Logger
    private let now: () -> KerberosTime
    /// Requests refused by the rules or frames that did not decode.
    public private(set) var violations = 0

    public init(fd: Int32, loop: EventLoop, realms: [Realm], checkInterval: Int64, storesPerMinute: Int, logger: Logger,
                now: @escaping () -> KerberosTime = { KerberosTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))! }) {
        channel = FramedChannel(fd: fd, loop: loop)
        self.realms = Dictionary(uniqueKeysWithValues: realms.map { ($0.name, $0) })
        rules = KeeperRules(localRealms: Set(realms.map(\.name)), storesPerMinute: storesPerMinute)
        self.checkInterval = checkInterval
        self.logger = logger
        self.now = now
    }

    /// `onClose` gets the reason once the channel has ended.
    public func start(onClose: @escaping (String) -> Void) {
        channel.start(onFrame: { [weak self] frame in self?.received(frame) }, onClose: onClose)
    }

    /// After a reload: the same realms (a change of the set needs a restart), new stores or lifetimes.
    public func reconfigure(realms: [Realm], checkInterval: Int64) {
        self.realms = Dictionary(uniqueKeysWithValues: realms.map { ($0.name, $0) })
        self.checkInterval = checkInterval
    }

    public func close() { channel.close("closed by the keeper") }

    /// The channel ended on a request or frame that does not decode.
    public var endedOnMalformedInput: Bool { channel.closedOnMalformedInput }

    private func received(_ frame: [UInt8]) {
        let request: KeeperEnvelope<KeeperRequest>
        do {
            request = try KeeperWire.decodeRequest(frame)
        } catch {
            violations += 1
            logger.error("protocol violation by the engine: a request that does not decode (\(error)); ending its channel")
            return channel.close("a malformed request", malformed: true)
        }
        let now = now()
        if let refusal = rules.refusal(of: request.body, now: now) {
            violations += 1
            logger.error("protocol violation by the engine: \(request.body.summary) refused: \(refusal)")
            return reply(request.id, .failure(KXError(.keyStoring, "the keeper refused \(request.body.summary): \(refusal)")))
        }
        guard let realm = realms[request.body.realm] else {
            return reply(request.id, .failure(KXError(.keyStoring, "\(request.body.realm) is not configured")))
        }
        let id = request.id
        switch request.body {
        case .inspect(_, let database, let principal):
            guard let store = database == .primary ? realm.store : realm.replica else {
                return reply(id, .failure(KXError(.keyStoring, "\(realm.name) has no replica_kdc_profile")))
            }
            store.inspect(principal) { [weak self] in self?.reply(id, $0.map(KeeperReply.entry)) }
        case .store(_, let write):
            realm.store.store(write) { [weak self] result in
                write.material.zeroize()
                self?.reply(id, result.map(KeeperReply.written))
            }
        case .claimKeyWork(_, let holder):
            realm.store.claimKeyWork(now: now, lifetime: realm.lifetime, checkInterval: checkInterval, holder: holder,
                                     leaseSeconds: KeyMaintainer.leaseSeconds) { [weak self] in self?.reply(id, $0.map(KeeperReply.claims)) }
        case .maintain(_, let claimed):
            realm.store.maintain(claimed: claimed, now: now, lifetime: realm.lifetime, checkInterval: checkInterval) { [weak self] in
                self?.reply(id, $0.map(KeeperReply.report))
            }
        }
    }

    private func reply(_ id: UInt32, _ result: Result<KeeperReply, KXError>) {
        let body: KeeperReply = switch result {
        case .success(let reply): reply
        case .failure(let error): .failed(error)
        }
        var frame = KeeperWire.encode(KeeperEnvelope(id: id, body: body))
        channel.send(&frame)
    }
}
