import Foundation
import KXEventLoop
import KXOver

/// The engine's end of the keeper channel: requests out with an id, each
/// reply back to its completion on the loop. When the keeper goes away every
/// waiting request fails (a key store then fails the exchange, which writes
/// nothing more) and `onLost` tells the engine to stop.
public final class KeeperClient {
    private let channel: FramedChannel
    private var nextID: UInt32 = 1
    private var waiting: [UInt32: (Result<KeeperReply, KXError>) -> Void] = [:]
    private var onLost: ((String) -> Void)?

    public init(fd: Int32, loop: EventLoop) {
        channel = FramedChannel(fd: fd, loop: loop)
    }

    public func start(onLost: @escaping (String) -> Void) {
        self.onLost = onLost
        channel.start(onFrame: { [weak self] frame in self?.received(frame) },
                      onClose: { [weak self] reason in self?.lost(reason) })
    }

    public func request(_ body: KeeperRequest, completion: @escaping (Result<KeeperReply, KXError>) -> Void) {
        guard !channel.closed else { return completion(.failure(KXError(.keyStoring, "\(body.realm): the keeper is gone"))) }
        let id = nextID
        nextID = nextID &+ 1
        waiting[id] = completion
        var frame = KeeperWire.encode(KeeperEnvelope(id: id, body: body))
        channel.send(&frame)
    }

    /// The engine's own stop: not a loss to report.
    public func close() {
        onLost = nil
        channel.close("closed by the engine")
    }

    private func received(_ frame: [UInt8]) {
        let reply: KeeperEnvelope<KeeperReply>
        do { reply = try KeeperWire.decodeReply(frame) } catch { return channel.close("a malformed reply from the keeper: \(error)", malformed: true) }
        guard let completion = waiting.removeValue(forKey: reply.id) else { return channel.close("a reply to no request (id \(reply.id))") }
        if case .failed(let error) = reply.body { return completion(.failure(error)) }
        completion(.success(reply.body))
    }

    private func lost(_ reason: String) {
        let failed = waiting
        waiting = [:]
        for (_, completion) in failed.sorted(by: { $0.key < $1.key }) {
            completion(.failure(KXError(.keyStoring, "the keeper is gone (\(reason))")))
        }
        onLost?(reason)
    }
}
