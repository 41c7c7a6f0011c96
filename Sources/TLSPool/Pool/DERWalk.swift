/// A bounds-checked DER TLV walker for the few certificate parts the pool
/// reads itself (names, SubjectAltName). Peer input: every read returns nil
/// on malformed data instead of trapping.
struct DERWalk {
    struct Node {
        let tag: UInt8
        /// The complete TLV (tag, length, contents).
        let encoded: ArraySlice<UInt8>
        let contents: ArraySlice<UInt8>
    }

    private let bytes: ArraySlice<UInt8>
    private var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    var isAtEnd: Bool { position >= bytes.endIndex }

    /// The next TLV, or nil (without moving) when malformed or at the end.
    mutating func next() -> Node? {
        var cursor = position
        guard cursor < bytes.endIndex else { return nil }
        let tag = bytes[cursor]
        guard tag & 0x1F != 0x1F else { return nil }   // multi-byte tags never occur here
        cursor += 1
        guard cursor < bytes.endIndex else { return nil }
        let first = bytes[cursor]
        cursor += 1
        var length = 0
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7F)
            guard (1...4).contains(count), cursor + count <= bytes.endIndex else { return nil }
            for _ in 0..<count {
                length = length << 8 | Int(bytes[cursor])
                cursor += 1
            }
        }
        guard length >= 0, length <= bytes.endIndex - cursor else { return nil }
        let node = Node(tag: tag, encoded: bytes[position..<(cursor + length)], contents: bytes[cursor..<(cursor + length)])
        position = cursor + length
        return node
    }

    /// The next TLV if it has `tag`.
    mutating func next(tag: UInt8) -> Node? {
        var copy = self
        guard let node = copy.next(), node.tag == tag else { return nil }
        self = copy
        return node
    }

    /// Every TLV until the end; nil if any is malformed.
    static func children(of contents: ArraySlice<UInt8>) -> [Node]? {
        var walk = DERWalk(contents)
        var nodes: [Node] = []
        while !walk.isAtEnd {
            guard let node = walk.next() else { return nil }
            nodes.append(node)
        }
        return nodes
    }
}
