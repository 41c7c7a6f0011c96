/// Merging the offers into KXOVER-KEY-INFO and laying out the exporter output
/// (spec §6.3, §6.4).
public enum KeySchedule {
    /// The exporter label (spec §6.2, decision #1).
    public static let exporterLabel = "EXPERIMENTAL-INTERNETWIDE-KXOVER"

    /// KXOVER-KEY-INFO from REQ and REP: the later `from`, the earlier `till`,
    /// the lower max-uses of those present, REP's kvno, both salts.
    public static func merge(request: KXOffer, reply: KXOffer) throws -> KeyInfo {
        let from = max(request.from, reply.from)
        let till = min(request.till, reply.till)
        guard from < till else {
            throw KXError(.mergeTiming, "effective interval is empty: from \(from), till \(till)")
        }
        let maxUses = [request.maxUses, reply.maxUses].compactMap { $0 }.min()
        return KeyInfo(kxName: request.kxName, reqName: request.myName, repName: reply.myName, from: from, till: till,
                       maxUses: maxUses, kvno: reply.kvno, reqSalt: request.salt, repSalt: reply.salt, extensionInfo: [])
    }

    /// Etypes both offers list, ascending (a merge walk over two rising lists).
    public static func sharedEtypes(_ a: [Int32], _ b: [Int32]) -> [Int32] {
        var i = 0, j = 0
        var shared: [Int32] = []
        while i < a.count, j < b.count {
            if a[i] == b[j] { shared.append(a[i]); i += 1; j += 1 }
            else if a[i] < b[j] { i += 1 }
            else { j += 1 }
        }
        return shared
    }

    /// Where each etype's random-to-key seed lies in the exported bytes.
    public struct Slot: Hashable, Sendable {
        public let etype: Int32
        public let range: Range<Int>

        public init(etype: Int32, range: Range<Int>) {
            self.etype = etype
            self.range = range
        }
    }

    public struct Layout: Hashable, Sendable {
        public let slots: [Slot]

        public init(slots: [Slot]) {
            self.slots = slots
        }

        /// Consecutive chunks, one per etype in the given order.
        public init(consecutive etypes: [Int32]) throws {
            var slots: [Slot] = []
            var offset = 0
            for etype in etypes {
                guard let info = Etype.info(etype) else {
                    throw KXError(.offerEtypes, "shared etype \(etype) has no known random-to-key length")
                }
                slots.append(Slot(etype: etype, range: offset..<(offset + info.seedLength)))
                offset += info.seedLength
            }
            self.slots = slots
        }
        public var exportLength: Int { slots.last?.range.upperBound ?? 0 }
        public var etypes: [Int32] { slots.map(\.etype) }
    }

    /// Consecutive chunks, one per shared etype in ascending order. An empty
    /// shared set or an etype without a known seed length fails the exchange.
    public static func layout(request: KXOffer, reply: KXOffer) throws -> Layout {
        let shared = sharedEtypes(request.etypes, reply.etypes)
        guard !shared.isEmpty else {
            throw KXError(.offerEtypes, "no shared etype between \(request.etypes) and \(reply.etypes)")
        }
        return try Layout(consecutive: shared)
    }
}
