import CGnuTLS

/// The pool's GnuTLS priority string, parsed once when the pool starts (a
/// bad string fails the start, not every handshake) and shared by every
/// session; GnuTLS only reads it.
final class TLSPriority: @unchecked Sendable {
    let cache: gnutls_priority_t
    let text: String

    init(_ text: String) throws {
        var cache: gnutls_priority_t?
        var errorPosition: UnsafePointer<CChar>?
        let parsed = gnutls_priority_init(&cache, text, &errorPosition)
        guard parsed == GNUTLS_E_SUCCESS, let cache else {
            throw TLSPoolSetupError("priority \"\(text)\": \(GnuTLS.describe(parsed))")
        }
        self.cache = cache
        self.text = text
    }

    deinit { gnutls_priority_deinit(cache) }
}
