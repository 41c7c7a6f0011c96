import CGnuTLS

/// Text for a GnuTLS (or libdane) error code.
enum GnuTLS {
    static func describe(_ code: Int32) -> String {
        guard let text = gnutls_strerror(code) else { return "GnuTLS error \(code)" }
        return String(cString: text)
    }

    static func describeDANE(_ code: Int32) -> String {
        guard let text = dane_strerror(code) else { return "DANE error \(code)" }
        return String(cString: text)
    }

    /// Calls `body` with the certificates as gnutls_datum_t values that stay
    /// valid for the duration of the call.
    static func withDatums<R>(_ chain: [[UInt8]], _ body: (UnsafePointer<gnutls_datum_t>, Int) -> R) -> R {
        let copies = chain.map { der -> UnsafeMutableBufferPointer<UInt8> in
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(der.count, 1))
            _ = buffer.initialize(from: der)
            return buffer
        }
        defer { copies.forEach { $0.deallocate() } }
        let datums = zip(copies, chain).map { gnutls_datum_t(data: $0.0.baseAddress, size: UInt32($0.1.count)) }
        return datums.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
    }
}

/// Why a pool could not be set up (bad credentials, no GnuTLS, a socket path).
public struct TLSPoolSetupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
