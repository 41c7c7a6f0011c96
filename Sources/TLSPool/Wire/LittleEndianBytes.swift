// The PIOC record is host-endian on the wire (a local socket). We encode it as
// little-endian explicitly and refuse to build on a big-endian host, where a
// genuine TLS Pool would disagree with us about every integer.
#if _endian(big)
#error("The TLS Pool wire protocol is host-endian; this implementation assumes a little-endian host")
#endif

/// Bounds-checked little-endian field access on a byte array. Reads outside
/// the array yield zero and writes outside it are dropped, so a malformed or
/// short buffer can never crash the process.
extension Array where Element == UInt8 {
    func unsignedInteger<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, at offset: Int) -> T {
        let width = MemoryLayout<T>.size
        guard offset >= 0, offset + width <= count else { return 0 }
        var value: T = 0
        for i in 0..<width { value |= T(self[offset + i]) << (8 * i) }
        return value
    }

    mutating func setUnsignedInteger<T: FixedWidthInteger & UnsignedInteger>(_ value: T, at offset: Int) {
        let width = MemoryLayout<T>.size
        guard offset >= 0, offset + width <= count else { return }
        for i in 0..<width { self[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    func u16(at offset: Int) -> UInt16 { unsignedInteger(UInt16.self, at: offset) }
    func u32(at offset: Int) -> UInt32 { unsignedInteger(UInt32.self, at: offset) }
    func i16(at offset: Int) -> Int16 { Int16(bitPattern: u16(at: offset)) }
    func i32(at offset: Int) -> Int32 { Int32(bitPattern: u32(at: offset)) }
    mutating func setU16(_ value: UInt16, at offset: Int) { setUnsignedInteger(value, at: offset) }
    mutating func setU32(_ value: UInt32, at offset: Int) { setUnsignedInteger(value, at: offset) }
    mutating func setI16(_ value: Int16, at offset: Int) { setU16(UInt16(bitPattern: value), at: offset) }
    mutating func setI32(_ value: Int32, at offset: Int) { setU32(UInt32(bitPattern: value), at: offset) }

    /// The bytes of `length` starting at `offset`, clipped to the array.
    func bytes(at offset: Int, length: Int) -> [UInt8] {
        let start = Swift.max(0, Swift.min(offset, count))
        let end = Swift.max(start, Swift.min(offset + Swift.max(length, 0), count))
        return Array(self[start..<end])
    }

    /// Writes `bytes` at `offset`, never past `offset + limit` or the array end.
    mutating func setBytes(_ bytes: [UInt8], at offset: Int, limit: Int) {
        let n = Swift.min(bytes.count, limit, Swift.max(0, count - offset))
        guard offset >= 0, n > 0 else { return }
        for i in 0..<n { self[offset + i] = bytes[i] }
    }

    /// Zeroes `length` bytes from `offset` (clipped).
    mutating func zero(at offset: Int, length: Int) {
        let start = Swift.max(0, Swift.min(offset, count))
        let end = Swift.max(start, Swift.min(offset + length, count))
        for i in start..<end { self[i] = 0 }
    }

    /// A NUL-terminated string in a fixed `char[length]` field. A field without
    /// NUL is read up to its end; invalid UTF-8 is replaced, never trapped on.
    func fixedString(at offset: Int, length: Int) -> String {
        let field = bytes(at: offset, length: length)
        let content = field.prefix { $0 != 0 }
        return String(decoding: content, as: UTF8.self)
    }

    /// Writes `string` NUL-terminated and NUL-padded into `char[length]`.
    /// Longer strings are cut to length-1 bytes; callers that care check
    /// `FixedStringField.fits` first.
    mutating func setFixedString(_ string: String, at offset: Int, length: Int) {
        zero(at: offset, length: length)
        setBytes(Array(string.utf8.prefix(length - 1)), at: offset, limit: length - 1)
    }
}

/// Limits of the fixed character fields.
public enum FixedStringField {
    /// True when `string` fits a `char[length]` field with its NUL and has no NUL inside.
    public static func fits(_ string: String, length: Int = 128) -> Bool {
        string.utf8.count < length && !string.utf8.contains(0)
    }
}
