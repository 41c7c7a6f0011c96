/// The 16-byte session handle chosen by the application (`TLSPOOL_CTLKEYLEN`).
/// Whoever holds it on the owning pool connection may export keys from the
/// session, so it is drawn from the kernel CSPRNG and never printed in full.
public struct CtlKey: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Takes exactly 16 bytes (shorter input is zero-padded, longer is cut).
    public init(bytes: [UInt8]) {
        self.bytes = Array(bytes.prefix(16)) + [UInt8](repeating: 0, count: max(0, 16 - bytes.count))
    }

    /// A fresh random key from the system CSPRNG.
    public static func random() -> CtlKey {
        CtlKey(bytes: SystemRandom.bytes(16))
    }

    public var isZero: Bool { bytes.allSatisfy { $0 == 0 } }

    public var description: String {
        "ctlkey " + bytes.prefix(2).map { String($0, radix: 16) }.joined() + "…"
    }
}

/// The system CSPRNG (getrandom(2) on Linux, via the standard library).
enum SystemRandom {
    static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    static func uint16() -> UInt16 {
        var generator = SystemRandomNumberGenerator()
        return UInt16.random(in: .min ... .max, using: &generator)
    }
}
