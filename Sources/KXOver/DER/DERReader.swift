import SwiftASN1

/// A strict, lazy DER reader over one buffer.
///
/// swift-asn1's parser validates a whole tree up front and reports a failure
/// without its position; administrators and fuzz triage need the field and the
/// byte offset, so decoding walks TLVs one field at a time here. Encoding uses
/// swift-asn1's serializer, and the tests use swift-asn1's parser as an oracle
/// (anything this reader accepts, `DER.parse` must accept too).
///
/// Only low tag numbers (< 31) occur in Kerberos and KXOVER, so a high-tag-number
/// identifier is rejected. Lengths must be definite and minimal.
public struct DERReader {
    /// One element: its identifier octet and where its parts lie in the buffer.
    public struct Element {
        public let tag: UInt8
        public let start: Int
        public let contentStart: Int
        public let end: Int
        public var isConstructed: Bool { tag & 0x20 != 0 }
        public var contentCount: Int { end - contentStart }
    }

    public let bytes: [UInt8]
    public private(set) var position: Int
    public let end: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.position = 0
        self.end = bytes.count
    }

    init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    public var isAtEnd: Bool { position >= end }

    /// A failure at the current position (or `offset`). Field paths are built
    /// only when a failure travels up through `named(_:)`, so a successful
    /// decode allocates no path strings.
    public func failure(_ reason: String, field: String = "", at offset: Int? = nil) -> DecodeFailure {
        DecodeFailure(field: field, offset: offset ?? position, reason: reason)
    }

    /// Runs `body`; a failure inside it gets `name` prefixed to its field path.
    public static func named<T>(_ name: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as DecodeFailure {
            throw failure.under(name)
        }
    }

    /// The identifier octet of the next element, if any.
    public func peekTag() -> UInt8? {
        position < end ? bytes[position] : nil
    }

    /// Reads the next element's header and skips over its content.
    public mutating func readElement(field: String) throws -> Element {
        let start = position
        guard start < end else {
            throw failure("missing: the enclosing value ends here", field: field)
        }
        let tag = bytes[start]
        guard tag & 0x1F != 0x1F else {
            throw failure("high-tag-number identifier 0x\(Hex.byte(tag)) is not used by Kerberos", field: field, at: start)
        }
        var cursor = start + 1
        guard cursor < end else { throw failure("truncated: no length octet", field: field, at: start) }
        let first = bytes[cursor]
        cursor += 1
        var length = 0
        if first < 0x80 {
            length = Int(first)
        } else if first == 0x80 {
            throw failure("indefinite length is not DER", field: field, at: start)
        } else {
            let count = Int(first & 0x7F)
            guard count <= 4 else { throw failure("length of \(count) octets is too large", field: field, at: start) }
            guard cursor + count <= end else { throw failure("truncated inside the length", field: field, at: start) }
            guard bytes[cursor] != 0 else { throw failure("length has a leading zero octet (not minimal DER)", field: field, at: start) }
            for i in 0..<count { length = (length << 8) | Int(bytes[cursor + i]) }
            cursor += count
            guard length >= 0x80 else { throw failure("long-form length \(length) should use the short form (not minimal DER)", field: field, at: start) }
        }
        guard length <= end - cursor else {
            throw failure("truncated: length \(length) runs past the end (\(end - cursor) bytes left)", field: field, at: start)
        }
        position = cursor + length
        return Element(tag: tag, start: start, contentStart: cursor, end: cursor + length)
    }

    /// Reads the next element and checks its identifier octet.
    public mutating func read(tag expected: UInt8, field: String) throws -> Element {
        let element = try readElement(field: field)
        guard element.tag == expected else {
            throw failure("expected tag 0x\(Hex.byte(expected)), found 0x\(Hex.byte(element.tag))", field: field, at: element.start)
        }
        return element
    }

    /// A reader over a constructed element's content.
    public func contents(of element: Element) -> DERReader {
        DERReader(bytes: bytes, range: element.contentStart..<element.end)
    }

    public func content(of element: Element) -> ArraySlice<UInt8> {
        bytes[element.contentStart..<element.end]
    }

    public func encoded(_ element: Element) -> ArraySlice<UInt8> {
        bytes[element.start..<element.end]
    }

    /// Fails unless every byte of this reader was consumed.
    public func expectEnd() throws {
        guard isAtEnd else {
            throw failure("unexpected element with tag 0x\(Hex.byte(bytes[position]))")
        }
    }

    // MARK: - Structured helpers

    /// `SEQUENCE { ... }`: hands the body to `body`, then requires the body be consumed.
    public mutating func sequence<T>(field: String, _ body: (inout DERReader) throws -> T) throws -> T {
        let element = try read(tag: 0x30, field: field)
        var inner = contents(of: element)
        return try Self.named(field) {
            let value = try body(&inner)
            try inner.expectEnd()
            return value
        }
    }

    /// `[n] EXPLICIT`: one inner value, nothing after it.
    public mutating func explicit<T>(_ number: UInt8, field: String, _ body: (inout DERReader) throws -> T) throws -> T {
        let element: Element
        do {
            element = try read(tag: 0xA0 | number, field: field)
        } catch var failure as DecodeFailure {
            failure.field = "\(field)[\(number)]"   // built on failure only: relay peeks run per request
            throw failure
        }
        // The wrapper adds no path level: the inner value names itself.
        var inner = contents(of: element)
        let value = try body(&inner)
        try inner.expectEnd()
        return value
    }

    /// `[n] EXPLICIT ... OPTIONAL`: nil when the next tag is not `[n]`.
    public mutating func optionalExplicit<T>(_ number: UInt8, field: String, _ body: (inout DERReader) throws -> T) throws -> T? {
        guard peekTag() == 0xA0 | number else { return nil }
        return try explicit(number, field: field, body)
    }

    /// Runs `body` for item `index` of a SEQUENCE OF; a failure inside it is
    /// named `[index]`, a name built only then.
    public static func item<T>(_ index: Int, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as DecodeFailure {
            throw failure.under("[\(index)]")
        }
    }

    /// `SEQUENCE OF`: calls `element` until the body is consumed.
    public mutating func sequenceOf<T>(field: String, _ element: (inout DERReader, Int) throws -> T) throws -> [T] {
        try sequence(field: field) { inner in
            var items: [T] = []
            while !inner.isAtEnd { items.append(try element(&inner, items.count)) }
            return items
        }
    }

    // MARK: - Primitive values

    /// INTEGER, minimal two's complement, within `range`.
    public mutating func integer(field: String, in range: ClosedRange<Int64>) throws -> Int64 {
        let element = try read(tag: 0x02, field: field)
        let content = self.content(of: element)
        guard let firstByte = content.first else { throw failure("empty INTEGER", field: field, at: element.start) }
        if content.count > 1 {
            let second = content[content.startIndex + 1]
            if (firstByte == 0x00 && second & 0x80 == 0) || (firstByte == 0xFF && second & 0x80 != 0) {
                throw failure("INTEGER is not minimally encoded", field: field, at: element.start)
            }
        }
        guard content.count <= 8 || (content.count == 9 && firstByte == 0) else {
            throw failure("INTEGER of \(content.count) octets is out of range", field: field, at: element.start)
        }
        // Accumulate in 128 bits' worth of headroom by checking magnitude as we go.
        var value: Int64 = firstByte & 0x80 != 0 ? -1 : 0
        var overflow = false
        for byte in content {
            let (shifted, o1) = value.multipliedReportingOverflow(by: 256)
            value = shifted | Int64(byte)
            overflow = overflow || o1
        }
        guard !overflow, range.contains(value) else {
            throw failure("value out of range \(range.lowerBound)...\(range.upperBound)", field: field, at: element.start)
        }
        return value
    }

    public mutating func int32(field: String) throws -> Int32 {
        Int32(try integer(field: field, in: Int64(Int32.min)...Int64(Int32.max)))
    }

    public mutating func uint32(field: String) throws -> UInt32 {
        UInt32(try integer(field: field, in: 0...Int64(UInt32.max)))
    }

    public mutating func octetString(field: String) throws -> [UInt8] {
        let element = try read(tag: 0x04, field: field)
        return Array(content(of: element))
    }

    /// BOOLEAN: DER allows only 0x00 and 0xFF.
    public mutating func boolean(field: String) throws -> Bool {
        let element = try read(tag: 0x01, field: field)
        let content = self.content(of: element)
        guard content.count == 1, content.first == 0x00 || content.first == 0xFF else {
            throw failure("BOOLEAN must be one octet 00 or FF", field: field, at: element.start)
        }
        return content.first == 0xFF
    }

    /// KerberosString (GeneralString, tag 0x1B). Strict mode admits printable
    /// US-ASCII only; lenient mode (relay peeks) keeps any byte as Latin-1.
    public mutating func kerberosString(field: String, strict: Bool = true) throws -> String {
        let element = try read(tag: 0x1B, field: field)
        let content = self.content(of: element)
        if strict, let bad = content.firstIndex(where: { $0 < 0x20 || $0 > 0x7E }) {
            throw failure("byte 0x\(Hex.byte(content[bad])) is not printable ASCII", field: field, at: bad)
        }
        if strict || content.allSatisfy({ $0 < 0x80 }) {
            return String(decoding: content, as: UTF8.self)   // ASCII is UTF-8
        }
        return String(decoding: content.map { UInt16($0) }, as: UTF16.self)   // Latin-1
    }

    public mutating func kerberosTime(field: String) throws -> KerberosTime {
        let element = try read(tag: 0x18, field: field)
        do {
            return try KerberosTime(generalizedTime: content(of: element))
        } catch let reason as KerberosTime.FormatError {
            throw failure(reason.reason, field: field, at: element.start)
        }
    }

    public mutating func objectIdentifier(field: String) throws -> ASN1ObjectIdentifier {
        let element = try read(tag: 0x06, field: field)
        do {
            return try ASN1ObjectIdentifier(derEncoded: Array(encoded(element)))
        } catch {
            throw failure("malformed OBJECT IDENTIFIER", field: field, at: element.start)
        }
    }
}
