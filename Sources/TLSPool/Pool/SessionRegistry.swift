import Foundation

/// ctlkey → protected session, with the pool connection that may control it
/// (spec §6.4). A session enters just before its final STARTTLS reply and
/// leaves first thing when its relay ends, so PRNG and INFO only ever reach
/// live sessions, and only from their owner.
final class SessionRegistry: @unchecked Sendable {
    private struct Entry {
        let session: PoolSession
        /// nil while detached.
        var owner: ObjectIdentifier?
    }

    private let lock = NSLock()
    private var entries: [CtlKey: Entry] = [:]

    enum RegistrationFailure: Error { case duplicate, ownerGone }

    /// Registers `session`; `owner` nil registers it detached. Fails when the
    /// key is taken or the owner has already disconnected (checked under the
    /// registry lock, so a disconnect either sees the entry or prevents it).
    func register(_ session: PoolSession, owner: PoolConnection?) throws(RegistrationFailure) {
        lock.lock()
        defer { lock.unlock() }
        guard entries[session.ctlkey] == nil else { throw .duplicate }
        if let owner, owner.isClosed { throw .ownerGone }
        entries[session.ctlkey] = Entry(session: session, owner: owner.map(ObjectIdentifier.init))
    }

    func unregister(_ session: PoolSession) {
        lock.lock()
        defer { lock.unlock() }
        if entries[session.ctlkey]?.session === session { entries[session.ctlkey] = nil }
    }

    /// The session for `ctlkey` if `requester` controls it.
    func session(for ctlkey: CtlKey, requester: PoolConnection) -> PoolSession? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = entries[ctlkey], entry.owner == ObjectIdentifier(requester) else { return nil }
        return entry.session
    }

    /// PIOC_CONTROL_DETACH_V2.
    func detach(_ ctlkey: CtlKey, requester: PoolConnection) -> TLSPoolErrorCode? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = entries[ctlkey] else { return .ctlkeyNotFound }
        guard let owner = entry.owner else { return .ctlkeyDetached }
        guard owner == ObjectIdentifier(requester) else { return .ctlkeyNotYours }
        entries[ctlkey]?.owner = nil
        return nil
    }

    /// PIOC_CONTROL_REATTACH_V2.
    func reattach(_ ctlkey: CtlKey, requester: PoolConnection) -> TLSPoolErrorCode? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = entries[ctlkey] else { return .ctlkeyNotFound }
        guard entry.owner == nil else { return .ctlkeyAttached }
        entries[ctlkey]?.owner = ObjectIdentifier(requester)
        return nil
    }

    /// A control connection went away: its FORK sessions become detached, its
    /// other sessions are returned to be stopped (and leave the registry now).
    func connectionClosed(_ connection: PoolConnection) -> [PoolSession] {
        lock.lock()
        defer { lock.unlock() }
        let id = ObjectIdentifier(connection)
        var stopping: [PoolSession] = []
        for (key, entry) in entries where entry.owner == id {
            if entry.session.flags.contains(.fork) {
                entries[key]?.owner = nil
            } else {
                stopping.append(entry.session)
                entries[key] = nil
            }
        }
        return stopping
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }
}
