import Foundation

/// Why recently ended sessions ended, by ctlkey, for a short while: in TLS
/// 1.3 a client's handshake completes before the server judges the client's
/// certificate, so the server's alert ends a session the application already
/// holds. A later request on that ctlkey then gets CTLKEY_NOT_FOUND as
/// always, its message saying why ("session ended: received TLS alert 45
/// (certificate_expired)"). Bounded in time and count; only the session's
/// owner learns it. Time comes in as `now`, so this stays testable.
struct EndedSessions {
    static let lifetime: TimeInterval = 60
    static let capacity = 1024

    private struct Entry {
        let owner: ObjectIdentifier?
        let reason: String
        let at: Date
    }

    private var entries: [CtlKey: Entry] = [:]
    /// Insertion order, oldest first, for eviction.
    private var order: [CtlKey] = []

    var count: Int { entries.count }

    mutating func remember(_ ctlkey: CtlKey, owner: ObjectIdentifier?, reason: String, now: Date) {
        expire(now: now)
        if entries.updateValue(Entry(owner: owner, reason: reason, at: now), forKey: ctlkey) == nil { order.append(ctlkey) }
        while order.count > Self.capacity { entries[order.removeFirst()] = nil }
    }

    /// Why the session for `ctlkey` ended, if `requester` owned it and it ended recently.
    mutating func reason(for ctlkey: CtlKey, requester: ObjectIdentifier, now: Date) -> String? {
        expire(now: now)
        guard let entry = entries[ctlkey], entry.owner == requester else { return nil }
        return entry.reason
    }

    /// The owner's connection closed: what it could ask about goes too.
    mutating func forget(owner: ObjectIdentifier) {
        entries = entries.filter { $0.value.owner != owner }
        order.removeAll { entries[$0] == nil }
    }

    private mutating func expire(now: Date) {
        while let oldest = order.first, let entry = entries[oldest], now.timeIntervalSince(entry.at) >= Self.lifetime {
            entries[oldest] = nil
            order.removeFirst()
        }
    }
}
