/// The keeper channel's bytes: `length(4, big-endian) version(1) kind(1)
/// id(4) body`, every field length-prefixed and bounded, every decode
/// all-or-nothing. Pure: the keeper's decoder is fuzzed (`scripts/fuzz keeper`).
/// docs/privsep.md describes each message.
public enum KeeperWire {
    public static let version: UInt8 = 1
    /// A frame's length after its 4-byte prefix: version, kind and id at
    /// least; a key check's report of many principals at most.
    public static let minimumFrame = 6
    public static let maximumFrame = 1 << 20
    static let maximumString = 8192
    static let maximumList = 4096
    static let maximumKeyMaterial = 512

    enum Kind: UInt8 {
        case inspect = 1, store = 2, claimKeyWork = 3, maintain = 4
        case entry = 0x81, written = 0x82, claims = 0x83, report = 0x84, failed = 0xFF
    }

    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    // MARK: - Requests (engine → keeper)

    public static func encode(_ envelope: KeeperEnvelope<KeeperRequest>) -> [UInt8] {
        var out = Writer()
        switch envelope.body {
        case .inspect(let realm, let database, let principal):
            out.head(.inspect, envelope.id)
            out.string(realm); out.u8(database.rawValue); out.principal(principal)
        case .store(let realm, let write):
            out.head(.store, envelope.id)
            out.string(realm); out.principal(write.principal); out.u32(write.kvno)
            out.list(write.layout.etypes) { $0.i32($1) }
            write.material.withUnsafeBytes { out.bytes($0) }
            out.time(write.from); out.time(write.till)
        case .claimKeyWork(let realm, let holder):
            out.head(.claimKeyWork, envelope.id)
            out.string(realm); out.string(holder)
        case .maintain(let realm, let claimed):
            out.head(.maintain, envelope.id)
            out.string(realm)
            out.list(claimed) { $0.principal($1.principal); $0.lease($1.lease) }
        }
        return out.framed()
    }

    /// A request frame (without its length prefix). Key material is copied
    /// into a KeyMaterial; the caller zeroises `frame` afterwards.
    public static func decodeRequest(_ frame: [UInt8]) throws -> KeeperEnvelope<KeeperRequest> {
        var input = Reader(frame)
        let (kind, id) = try input.head()
        let request: KeeperRequest
        switch kind {
        case .inspect:
            let realm = try input.string()
            guard let database = KeeperRequest.Database(rawValue: try input.u8()) else { throw Malformed(reason: "unknown database") }
            request = .inspect(realm: realm, database: database, principal: try input.principal())
        case .store:
            let realm = try input.string()
            let principal = try input.principal()
            let kvno = try input.u32()
            let etypes = try input.list { try $0.i32() }
            let layout: KeySchedule.Layout
            do { layout = try KeySchedule.Layout(consecutive: etypes) } catch { throw Malformed(reason: "unknown etype in \(etypes)") }
            guard !etypes.isEmpty, Set(etypes).count == etypes.count else { throw Malformed(reason: "etypes \(etypes) empty or repeated") }
            var seed = try input.bytes(maximum: maximumKeyMaterial)
            defer { zeroize(&seed) }
            guard seed.count == layout.exportLength else {
                throw Malformed(reason: "\(seed.count) bytes of key material for etypes \(etypes), which need \(layout.exportLength)")
            }
            let from = try input.time(), till = try input.time()
            let material = KeyMaterial(count: seed.count)
            material.withUnsafeMutableBytes { $0.copyBytes(from: seed) }
            request = .store(realm: realm, write: CrossoverKeyWrite(principal: principal, kvno: kvno, material: material,
                                                                     layout: layout, from: from, till: till))
        case .claimKeyWork:
            request = .claimKeyWork(realm: try input.string(), holder: try input.string())
        case .maintain:
            let realm = try input.string()
            request = .maintain(realm: realm, claimed: try input.list { (try $0.principal(), try $0.lease()) })
        default:
            throw Malformed(reason: "kind \(kind.rawValue) is not a request")
        }
        try input.end()
        return KeeperEnvelope(id: id, body: request)
    }

    // MARK: - Replies (keeper → engine)

    public static func encode(_ envelope: KeeperEnvelope<KeeperReply>) -> [UInt8] {
        var out = Writer()
        switch envelope.body {
        case .entry(let entry):
            out.head(.entry, envelope.id)
            switch entry {
            case .absent: out.u8(0)
            case .managed(let set):
                out.u8(1); out.principal(set.principal)
                out.list(set.versions) { out, version in
                    out.u32(version.kvno); out.list(version.etypes) { $0.i32($1) }
                    out.optionalTime(version.from); out.optionalTime(version.till)
                }
            case .foreign(let policy):
                out.u8(2); out.optionalString(policy)
            }
        case .written(let outcome):
            out.head(.written, envelope.id)
            out.u8(outcome == .written ? 0 : 1)
        case .claims(let claims):
            out.head(.claims, envelope.id)
            out.list(claims.claimed) { $0.principal($1.principal); $0.lease($1.lease) }
            out.list(claims.heldElsewhere) { $0.principal($1.principal); $0.lease($1.lease) }
            out.list(claims.leftovers) { $0.string($1) }
            out.list(claims.problems) { $0.string($1) }
        case .report(let report):
            out.head(.report, envelope.id)
            out.list(report.pruned) { $0.principal($1.principal); $0.u32($1.kvno) }
            out.list(report.capped) { $0.principal($1.principal); $0.i64($1.seconds) }
            out.list(report.renew) { $0.principal($1) }
            out.list(report.leftovers) { $0.string($1) }
            out.list(report.problems) { $0.string($1) }
            out.list(report.lost) { out, lost in
                out.principal(lost.principal)
                if let lease = lost.lease { out.u8(1); out.lease(lease) } else { out.u8(0) }
            }
        case .failed(let error):
            out.head(.failed, envelope.id)
            out.string(error.code.rawValue); out.string(error.detail)
        }
        return out.framed()
    }

    public static func decodeReply(_ frame: [UInt8]) throws -> KeeperEnvelope<KeeperReply> {
        var input = Reader(frame)
        let (kind, id) = try input.head()
        let reply: KeeperReply
        switch kind {
        case .entry:
            switch try input.u8() {
            case 0: reply = .entry(.absent)
            case 1:
                let principal = try input.principal()
                let versions = try input.list { input in
                    ManagedKeySet.Version(kvno: try input.u32(), etypes: try input.list { try $0.i32() },
                                          from: try input.optionalTime(), till: try input.optionalTime())
                }
                reply = .entry(.managed(ManagedKeySet(principal: principal, versions: versions)))
            case 2: reply = .entry(.foreign(policy: try input.optionalString()))
            default: throw Malformed(reason: "unknown entry")
            }
        case .written:
            switch try input.u8() {
            case 0: reply = .written(.written)
            case 1: reply = .written(.alreadyPresent)
            default: throw Malformed(reason: "unknown write outcome")
            }
        case .claims:
            var claims = KeyWorkClaims()
            claims.claimed = try input.list { (try $0.principal(), try $0.lease()) }
            claims.heldElsewhere = try input.list { (try $0.principal(), try $0.lease()) }
            claims.leftovers = try input.list { try $0.string() }
            claims.problems = try input.list { try $0.string() }
            reply = .claims(claims)
        case .report:
            var report = KeyMaintenanceReport()
            report.pruned = try input.list { (try $0.principal(), try $0.u32()) }
            report.capped = try input.list { (try $0.principal(), try $0.i64()) }
            report.renew = try input.list { try $0.principal() }
            report.leftovers = try input.list { try $0.string() }
            report.problems = try input.list { try $0.string() }
            report.lost = try input.list { input in
                let principal = try input.principal()
                return (principal, try input.u8() == 1 ? try input.lease() : nil)
            }
            reply = .report(report)
        case .failed:
            let code = try input.string()
            reply = .failed(KXError(KXError.Code(rawValue: code) ?? .keyStoring, try input.string()))
        default:
            throw Malformed(reason: "kind \(kind.rawValue) is not a reply")
        }
        try input.end()
        return KeeperEnvelope(id: id, body: reply)
    }

    /// Overwrites a buffer that held key material.
    public static func zeroize(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            // A volatile-style loop the optimiser must keep: the buffer escapes through the pointer.
            for i in 0..<buffer.count { base.storeBytes(of: 0, toByteOffset: i, as: UInt8.self) }
        }
    }
}

/// Splits a byte stream into keeper frames (each without its prefix).
public struct KeeperFrameReader: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    /// Appends `bytes` and returns every complete frame; throws on a length
    /// out of bounds (the stream cannot be trusted after that).
    public mutating func feed(_ bytes: some Collection<UInt8>) throws -> [[UInt8]] {
        pending.append(contentsOf: bytes)
        var frames: [[UInt8]] = []
        var start = 0
        while pending.count - start >= 4 {
            let length = pending[start..<(start + 4)].reduce(0) { $0 << 8 | Int($1) }
            guard (KeeperWire.minimumFrame...KeeperWire.maximumFrame).contains(length) else {
                KeeperWire.zeroize(&pending)
                throw KeeperWire.Malformed(reason: "frame length \(length) outside \(KeeperWire.minimumFrame)...\(KeeperWire.maximumFrame)")
            }
            guard pending.count - start - 4 >= length else { break }
            frames.append(Array(pending[(start + 4)..<(start + 4 + length)]))
            start += 4 + length
        }
        if start > 0 {
            // What was consumed may have held key material.
            pending.withUnsafeMutableBytes { buffer in
                for i in 0..<start { buffer[i] = 0 }
            }
            pending.removeFirst(start)
        }
        return frames
    }

    /// Bytes of an incomplete frame still waiting.
    public var buffered: Int { pending.count }
}
