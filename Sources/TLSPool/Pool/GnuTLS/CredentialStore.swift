import CGnuTLS
import Foundation

/// GnuTLS certificate credentials per local identity, loaded once at pool
/// start (so a bad key file fails the pool, not a handshake) and shared
/// read-only by every session.
final class CredentialStore: @unchecked Sendable {
    private var byIdentity: [String: gnutls_certificate_credentials_t] = [:]
    private var rootsByIdentity: [String: FederationRoots] = [:]

    init(_ identities: [TLSPoolConfiguration.Identity]) throws {
        for identity in identities {
            let key = Self.key(identity.localID)
            guard byIdentity[key] == nil else { throw TLSPoolSetupError("local identity \(identity.localID) configured twice") }
            var credentials: gnutls_certificate_credentials_t?
            guard gnutls_certificate_allocate_credentials(&credentials) == GNUTLS_E_SUCCESS, let credentials else {
                throw TLSPoolSetupError("gnutls_certificate_allocate_credentials failed")
            }
            let loaded = gnutls_certificate_set_x509_key_file2(credentials, identity.certificateFile, identity.keyFile,
                                                               GNUTLS_X509_FMT_PEM, nil, 0)
            guard loaded >= 0 else {
                gnutls_certificate_free_credentials(credentials)
                throw TLSPoolSetupError("credentials for \(identity.localID) from \(identity.certificateFile), \(identity.keyFile): \(GnuTLS.describe(loaded))")
            }
            byIdentity[key] = credentials
            if let file = identity.peerTrustAnchorsFile { rootsByIdentity[key] = try FederationRoots(file: file) }
        }
    }

    deinit {
        for credentials in byIdentity.values { gnutls_certificate_free_credentials(credentials) }
    }

    /// The credentials for `localID` (its domain part, case-insensitively).
    func credentials(for localID: String) -> gnutls_certificate_credentials_t? {
        byIdentity[Self.key(localID)] ?? byIdentity[Self.key(HostName.domain(ofIdentity: localID))]
    }

    /// The federation roots a peer of `localID` must chain to, if any.
    func federationRoots(for localID: String) -> FederationRoots? {
        rootsByIdentity[Self.key(localID)] ?? rootsByIdentity[Self.key(HostName.domain(ofIdentity: localID))]
    }

    var identities: [String] { Array(byIdentity.keys) }

    private static func key(_ localID: String) -> String {
        var name = localID.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }
}
