import Foundation

/// ctlkey → protected session, with the pool connection that may control it
/// (spec §6.4). A session enters just before its final STARTTLS reply and
/// leaves first thing when its relay ends, so PRNG and INFO only ever reach
/// live sessions, and only from their owner. A session that ended abnormally
/// (a TLS alert, a TLS error) leaves its reason behind for a while
/// (`EndedSessions`); it goes into the CTLKEY_NOT_FOUND message.
final class SessionRegistry: @unchecked Sendable {
    private struct Entry {
        let session: PoolSession
        /// nil while detached.
        var owner: ObjectIdentifier?
    }

    private let lock = NSLock()
    private var entries: [CtlKey: Entry] = [:]
    private var ended = EndedSessions()

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

    /// Removes `session`; `reason`, when the session ended abnormally, stays
    /// for its owner to learn (taken under the same lock, so a request that
    /// finds no session finds the reason).
    func unregister(_ session: PoolSession, reason: String? = nil) {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = entries[session.ctlkey], entry.session === session else { return }
        entries[session.ctlkey] = nil
        if let reason { ended.remember(session.ctlkey, owner: entry.owner, reason: reason, now: Date()) }
    }

    /// The CTLKEY_NOT_FOUND message for `requester`: why its session ended, when known.
    func notFoundMessage(for ctlkey: CtlKey, requester: PoolConnection) -> String {
        lock.lock()
        defer { lock.unlock() }
        guard let reason = ended.reason(for: ctlkey, requester: ObjectIdentifier(requester), now: Date()) else {
            return "no live session with that ctlkey on this connection"
        }
        return "session ended: \(reason)"
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
        ended.forget(owner: id)
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
