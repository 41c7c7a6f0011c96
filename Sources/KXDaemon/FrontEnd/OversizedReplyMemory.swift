import Foundation
import KXOver

/// Requests whose krb5kdc reply did not fit a datagram, remembered for longer
/// than krb5kdc's lookaside cache keeps replies (two minutes).
///
/// Why: krb5kdc 1.20.1 crashes (NULL dereference, seen as a segfault) when a
/// request arrives over UDP whose earlier reply, still in its lookaside
/// cache, is too big for UDP: over UDP twice, or over TCP and then UDP. So
/// such a request never goes to krb5kdc over UDP again: a UDP client gets
/// KRB_ERR_RESPONSE_TOO_BIG from us (the answer it got before, and it retries
/// over TCP as it would anyway), a TCP client's request goes over TCP.
///
/// Keys are the process-seeded hash of the request bytes; a collision only
/// sends some other request the harmless way round (TCP).
final class OversizedReplyMemory {
    static let responseTooBig: Int32 = 52

    private let lifetime: Double
    private let capacity: Int
    private let realm: String
    private let clock: () -> Double
    private var entries: [Int: (expiry: Double, tooBigReply: [UInt8]?)] = [:]
    /// Insertion order; every entry lives equally long, so the oldest expire first.
    private var order: [(key: Int, expiry: Double)] = []
    private var orderStart = 0

    init(lifetime: Double, capacity: Int, realm: String, clock: @escaping () -> Double = OversizedReplyMemory.monotonicNow) {
        self.lifetime = lifetime
        self.capacity = capacity
        self.realm = realm
        self.clock = clock
    }

    var count: Int { entries.count }

    /// krb5kdc said KRB_ERR_RESPONSE_TOO_BIG (`tooBigReply`), or sent a reply
    /// over TCP that it could not have sent over UDP (nil). Remembering a
    /// request again extends its life: krb5kdc cached its reply again.
    func remember(_ request: [UInt8], tooBigReply: [UInt8]?) {
        let now = clock()
        expire(now)
        let key = Self.key(request)
        if entries[key] == nil {
            while entries.count >= capacity && orderStart < order.count { dropOldest() }
        }
        entries[key] = (now + lifetime, tooBigReply ?? entries[key]?.tooBigReply)
        order.append((key, now + lifetime))
        if order.count - orderStart > 2 * capacity { compact() }
    }

    func contains(_ request: [UInt8]) -> Bool {
        guard !entries.isEmpty else { return false }
        expire(clock())
        return entries[Self.key(request)] != nil
    }

    /// What to tell a UDP client that repeats such a request: krb5kdc's own
    /// KRB_ERR_RESPONSE_TOO_BIG if we saw one, else one of ours.
    func tooBigReply(for request: [UInt8]) -> [UInt8]? {
        guard contains(request), let entry = entries[Self.key(request)] else { return nil }
        if let reply = entry.tooBigReply { return reply }
        let now = KerberosTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!
        return KRBError.make(code: Self.responseTooBig, realm: realm, now: now).derEncoded
    }

    /// KRB-ERROR with error-code 52. Every UDP reply passes here, so a byte
    /// scan for `[6] INTEGER 52` comes before the full decode.
    static func isTooBig(_ reply: [UInt8]) -> Bool {
        guard reply.first == KRBError.applicationTag, reply.count < 1024 else { return false }
        let found = reply.withUnsafeBufferPointer { bytes in
            bytes.indices.dropLast(4).contains { i in
                bytes[i] == 0xA6 && bytes[i + 1] == 0x03 && bytes[i + 2] == 0x02 && bytes[i + 3] == 0x01
                    && bytes[i + 4] == UInt8(responseTooBig)
            }
        }
        guard found, let error = try? KRBError(derEncoded: reply) else { return false }
        return error.errorCode == responseTooBig
    }

    private func expire(_ now: Double) {
        while orderStart < order.count, order[orderStart].expiry <= now { dropOldest() }
    }

    /// Pops the oldest record; it removes its entry unless the entry was
    /// remembered again later (then a later record stands for it).
    private func dropOldest() {
        let oldest = order[orderStart]
        orderStart += 1
        if let entry = entries[oldest.key], entry.expiry <= oldest.expiry { entries[oldest.key] = nil }
        if orderStart > 1024 && orderStart * 2 > order.count {
            order.removeFirst(orderStart)
            orderStart = 0
        }
    }

    /// One record per entry again, after many repeats of few requests.
    private func compact() {
        order = entries.map { ($0.key, $0.value.expiry) }.sorted { $0.1 < $1.1 }
        orderStart = 0
    }

    private static func key(_ request: [UInt8]) -> Int {
        var hasher = Hasher()
        request.withUnsafeBytes { hasher.combine(bytes: $0) }
        return hasher.finalize()
    }

    static func monotonicNow() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
