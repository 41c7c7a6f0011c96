import CKerberos
import KXOver

extension KadminSession {
    /// Writes one exchange's keys: each layout slot of the exported bytes goes
    /// through its etype's RFC 3961 random-to-key (krb5_c_random_to_key). The
    /// keyblocks live in krb5's memory and are zeroed when freed.
    public func write(_ write: CrossoverKeyWrite) throws -> KeyWriteOutcome {
        var blocks: [UnsafeMutablePointer<krb5_keyblock>] = []
        defer { blocks.forEach { krb5_free_keyblock(context.raw, $0) } }
        try write.material.withUnsafeBytes { material in
            for slot in write.layout.slots {
                guard let seedLength = context.seedLength(of: slot.etype), let keyLength = context.keyLength(of: slot.etype) else {
                    throw Krb5Failure(code: -1, operation: "random-to-key", message: "etype \(slot.etype) is not supported by this krb5")
                }
                guard seedLength == slot.range.count else {
                    throw Krb5Failure(code: -1, operation: "random-to-key",
                                      message: "\(Etype.name(slot.etype)) needs \(seedLength) random bytes, the layout gives \(slot.range.count)")
                }
                var block: UnsafeMutablePointer<krb5_keyblock>?
                try context.check(krb5_init_keyblock(context.raw, krb5_enctype(slot.etype), keyLength, &block), "krb5_init_keyblock")
                blocks.append(block!)
                let seed = UnsafeRawBufferPointer(rebasing: material[slot.range])
                var data = krb5_data(magic: 0, length: UInt32(seed.count),
                                     data: UnsafeMutablePointer(mutating: seed.baseAddress!.assumingMemoryBound(to: CChar.self)))
                try context.check(krb5_c_random_to_key(context.raw, krb5_enctype(slot.etype), &data, block), "krb5_c_random_to_key")
            }
        }
        // The issuing KDC encrypts cross-realm TGTs in the first key of the
        // newest kvno: list the strongest etype first.
        let keys = blocks.sorted { Etype.preference($0.pointee.enctype) < Etype.preference($1.pointee.enctype) }.map { block in
            RawKey(etype: Int32(block.pointee.enctype),
                   bytes: UnsafeRawBufferPointer(start: block.pointee.contents, count: Int(block.pointee.length)))
        }
        return try self.write(write.principal, kvno: write.kvno, keys: keys, from: write.from, till: write.till)
    }
}

extension Etype {
    /// Lower is preferred for the ticket etype: SHA-2 AES first, then SHA-1 AES, then Camellia.
    static func preference(_ etype: Int32) -> Int {
        [20, 19, 18, 17, 26, 25].firstIndex(of: etype) ?? 100
    }
}
