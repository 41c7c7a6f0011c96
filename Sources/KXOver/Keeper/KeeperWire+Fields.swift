/// The field readers and writers of the keeper channel: big-endian
/// integers, UTF-8 strings and byte strings with a 2-byte length, lists
/// with a 2-byte count, all bounded.
extension KeeperWire {
    struct Writer {
        /// Room for a store frame at once: a buffer that grows leaves copies of key bytes behind.
        private(set) var bytes: [UInt8] = {
            var bytes = [UInt8](repeating: 0, count: 4)
            bytes.reserveCapacity(512)
            return bytes
        }()

        mutating func head(_ kind: Kind, _ id: UInt32) {
            u8(KeeperWire.version); u8(kind.rawValue); u32(id)
        }

        /// The frame with its length prefix filled in (the writer's own buffer, not a copy).
        mutating func framed() -> [UInt8] {
            let length = UInt32(bytes.count - 4)
            for i in 0..<4 { bytes[i] = UInt8(truncatingIfNeeded: length >> (24 - 8 * i)) }
            defer { bytes = [] }
            return bytes
        }

        mutating func u8(_ value: UInt8) { bytes.append(value) }
        mutating func u32(_ value: UInt32) { for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) } }
        mutating func i32(_ value: Int32) { u32(UInt32(bitPattern: value)) }
        mutating func i64(_ value: Int64) {
            let raw = UInt64(bitPattern: value)
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: raw >> shift)) }
        }
        mutating func u16(_ value: Int) { bytes.append(UInt8(value >> 8)); bytes.append(UInt8(value & 0xFF)) }

        /// Too long a text (a problem report) is cut at a character boundary.
        mutating func string(_ value: String) {
            var utf8 = Array(value.utf8)
            if utf8.count > maximumString {
                var cut = maximumString
                while cut > 0 && utf8[cut] & 0xC0 == 0x80 { cut -= 1 }
                utf8 = Array(utf8[..<cut])
            }
            u16(utf8.count); bytes += utf8
        }

        mutating func bytes(_ value: [UInt8]) { u16(value.count); bytes += value }
        /// Key material straight from its buffer, with no copy in between.
        mutating func bytes(_ value: UnsafeRawBufferPointer) { u16(value.count); bytes.append(contentsOf: value) }

        mutating func optionalString(_ value: String?) {
            if let value { u8(1); string(value) } else { u8(0) }
        }

        mutating func time(_ value: KerberosTime) { i64(value.secondsSinceEpoch) }
        mutating func optionalTime(_ value: KerberosTime?) {
            if let value { u8(1); time(value) } else { u8(0) }
        }

        mutating func principal(_ value: Principal) {
            i32(value.name.nameType)
            u8(UInt8(min(value.name.components.count, 255)))
            for component in value.name.components.prefix(255) { string(component) }
            string(value.realm)
        }

        mutating func lease(_ value: MaintenanceLease) { string(value.holder); time(value.until) }

        /// At most `maximumList` entries (the reader refuses more).
        mutating func list<T>(_ values: [T], _ each: (inout Writer, T) -> Void) {
            let kept = values.prefix(maximumList)
            u16(kept.count)
            for value in kept { each(&self, value) }
        }
    }

    struct Reader {
        private let bytes: [UInt8]
        private var offset = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        mutating func head() throws -> (Kind, UInt32) {
            let version = try u8()
            guard version == KeeperWire.version else { throw Malformed(reason: "version \(version), expected \(KeeperWire.version)") }
            let raw = try u8()
            guard let kind = Kind(rawValue: raw) else { throw Malformed(reason: "unknown kind \(raw)") }
            return (kind, try u32())
        }

        func end() throws {
            guard offset == bytes.count else { throw Malformed(reason: "\(bytes.count - offset) bytes after the message") }
        }

        private mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count <= bytes.count - offset else { throw Malformed(reason: "truncated at byte \(offset)") }
            defer { offset += count }
            return bytes[offset..<(offset + count)]
        }

        mutating func u8() throws -> UInt8 { try take(1).first! }
        mutating func u16() throws -> Int { try take(2).reduce(0) { $0 << 8 | Int($1) } }
        mutating func u32() throws -> UInt32 { try take(4).reduce(0) { $0 << 8 | UInt32($1) } }
        mutating func i32() throws -> Int32 { Int32(bitPattern: try u32()) }
        mutating func i64() throws -> Int64 { Int64(bitPattern: try take(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }

        mutating func string() throws -> String {
            let length = try u16()
            guard length <= maximumString else { throw Malformed(reason: "string of \(length) bytes") }
            let raw = try take(length)
            guard let text = String(validating: raw, as: UTF8.self), !text.utf8.contains(0) else {
                throw Malformed(reason: "string not UTF-8, or with a NUL")
            }
            return text
        }

        mutating func bytes(maximum: Int) throws -> [UInt8] {
            let length = try u16()
            guard length <= maximum else { throw Malformed(reason: "\(length) bytes where at most \(maximum) fit") }
            return Array(try take(length))
        }

        mutating func optionalString() throws -> String? {
            switch try u8() {
            case 0: return nil
            case 1: return try string()
            default: throw Malformed(reason: "bad optional flag")
            }
        }

        mutating func time() throws -> KerberosTime {
            let seconds = try i64()
            guard let time = KerberosTime(secondsSinceEpoch: seconds) else { throw Malformed(reason: "time \(seconds) out of range") }
            return time
        }

        mutating func optionalTime() throws -> KerberosTime? {
            switch try u8() {
            case 0: return nil
            case 1: return try time()
            default: throw Malformed(reason: "bad optional flag")
            }
        }

        mutating func principal() throws -> Principal {
            let nameType = try i32()
            let count = Int(try u8())
            guard (1...8).contains(count) else { throw Malformed(reason: "principal of \(count) components") }
            var components: [String] = []
            for _ in 0..<count { components.append(try string()) }
            return Principal(realm: try string(), name: PrincipalName(nameType: nameType, components: components))
        }

        mutating func lease() throws -> MaintenanceLease {
            MaintenanceLease(holder: try string(), until: try time())
        }

        mutating func list<T>(_ each: (inout Reader) throws -> T) throws -> [T] {
            let count = try u16()
            guard count <= maximumList else { throw Malformed(reason: "list of \(count) entries") }
            var values: [T] = []
            values.reserveCapacity(min(count, bytes.count - offset))
            for _ in 0..<count { values.append(try each(&self)) }
            return values
        }
    }
}
