/// Exported key bytes: one heap buffer that is zeroed when released, never
/// printed, and never copied into an Array by this type.
public final class KeyMaterial: @unchecked Sendable, CustomStringConvertible {
    // @unchecked: the buffer is written once (by the exporter, before the
    // material is shared) and only read afterwards.
    public let count: Int
    private let buffer: UnsafeMutableRawBufferPointer

    public init(count: Int) {
        self.count = count
        buffer = .allocate(byteCount: max(count, 1), alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        zeroize()
        buffer.deallocate()
    }

    /// Lets the exporter fill the bytes in place.
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]))
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
    }

    /// Overwrites the bytes with zeros; done on release and after the keys are stored.
    public func zeroize() {
        // A volatile-style loop through a pointer the optimiser cannot prove dead.
        for i in 0..<buffer.count { buffer.storeBytes(of: 0, toByteOffset: i, as: UInt8.self) }
    }

    public var description: String { "KeyMaterial(\(count) bytes, redacted)" }
}
