import TLSPool

/// The property the `pioc` fuzz target (and its regression replay) checks:
/// any 388 bytes decode to a record that encodes back to exactly those
/// bytes, and every typed view of the payload reads without trapping.
/// Shorter or longer input is padded or cut to a record first.
public enum PIOCFuzz {
    public static func record(_ input: [UInt8]) {
        let bytes = Array(input.prefix(TLSPoolProtocol.recordSize))
            + [UInt8](repeating: 0, count: max(0, TLSPoolProtocol.recordSize - input.count))
        guard let record = try? TLSPoolRecord(bytes: bytes) else { preconditionFailure("a 388-byte record was refused") }
        precondition(record.encoded() == bytes, "PIOC record does not re-encode to its bytes")
        _ = record.description
        _ = (record.error.code, record.error.message)
        _ = (record.ping.identity, record.ping.facilities)
        let starttls = record.starttls
        _ = (starttls.flags, starttls.local, starttls.ipProtocol, starttls.streamID, starttls.localID, starttls.remoteID,
             starttls.ctlkey, starttls.service, starttls.timeout)
        let prng = record.prng
        _ = (prng.in1Length, prng.in2Length, prng.prngLength, prng.buffer, prng.ctlkey, prng.label, prng.context)
        let info = record.info
        _ = (info.ctlkey, info.kind, info.length, info.buffer, info.checkValue)
        _ = (record.control, record.lidEntry, record.pinEntry, record.payload)
        // A view written back unchanged leaves the record unchanged.
        var echoed = record
        echoed.starttls = record.starttls
        echoed.prng = record.prng
        precondition(echoed == record, "a typed view written back changed the record")
    }
}
