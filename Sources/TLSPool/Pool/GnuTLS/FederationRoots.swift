import CGnuTLS
import Foundation

/// A local identity's federation roots (`peer_trust_anchors`, spec section
/// 4.2 item 4): when set, a peer's certificate must also chain to one of
/// them, in addition to DANE. Loaded once with the identity's credentials,
/// so a bad file fails the pool's start, not a handshake.
final class FederationRoots: @unchecked Sendable {
    // @unchecked: the list is only read after init, under `lock`.
    private let list: gnutls_x509_trust_list_t
    private let lock = NSLock()
    let file: String
    let count: Int

    init(file: String) throws {
        var list: gnutls_x509_trust_list_t?
        guard gnutls_x509_trust_list_init(&list, 0) == GNUTLS_E_SUCCESS, let list else {
            throw TLSPoolSetupError("gnutls_x509_trust_list_init failed")
        }
        let added = gnutls_x509_trust_list_add_trust_file(list, file, nil, GNUTLS_X509_FMT_PEM, 0, 0)
        guard added > 0 else {
            gnutls_x509_trust_list_deinit(list, 1)
            throw TLSPoolSetupError("peer_trust_anchors \(file): " + (added < 0 ? GnuTLS.describe(added) : "no PEM certificate in it"))
        }
        self.list = list
        self.file = file
        count = Int(added)
    }

    deinit { gnutls_x509_trust_list_deinit(list, 1) }

    /// nil when `chain` (DER, end entity first) leads to one of the roots, else why not.
    func problem(with chain: [[UInt8]]) -> String? {
        var certificates: [gnutls_x509_crt_t?] = []
        defer { for certificate in certificates { gnutls_x509_crt_deinit(certificate) } }
        for der in chain {
            var certificate: gnutls_x509_crt_t?
            guard gnutls_x509_crt_init(&certificate) == GNUTLS_E_SUCCESS else { return "cannot read the peer's chain" }
            certificates.append(certificate)
            let imported = GnuTLS.withDatums([der]) { datums, _ in gnutls_x509_crt_import(certificate, datums, GNUTLS_X509_FMT_DER) }
            guard imported == GNUTLS_E_SUCCESS else { return "cannot read the peer's chain: \(GnuTLS.describe(imported))" }
        }
        var status: UInt32 = 0
        let verified = lock.withLock {
            certificates.withUnsafeMutableBufferPointer { buffer in
                gnutls_x509_trust_list_verify_crt(list, buffer.baseAddress, UInt32(buffer.count), 0, &status, nil)
            }
        }
        guard verified == GNUTLS_E_SUCCESS else { return GnuTLS.describe(verified) }
        // Short: the pool's error record carries at most 128 bytes (the file is in the configuration).
        guard status == 0 else { return "no chain to a federation root (\(Self.describe(status)))" }
        return nil
    }

    private static func describe(_ status: UInt32) -> String {
        let known: [(gnutls_certificate_status_t, String)] = [
            (GNUTLS_CERT_SIGNER_NOT_FOUND, "no root signed it"), (GNUTLS_CERT_SIGNER_NOT_CA, "its signer is no CA"),
            (GNUTLS_CERT_EXPIRED, "expired"), (GNUTLS_CERT_NOT_ACTIVATED, "not yet valid"),
            (GNUTLS_CERT_REVOKED, "revoked"), (GNUTLS_CERT_INSECURE_ALGORITHM, "an insecure algorithm"),
            (GNUTLS_CERT_SIGNATURE_FAILURE, "a bad signature"),
        ]
        let parts = known.filter { status & UInt32($0.0.rawValue) != 0 }.map(\.1)
        return parts.isEmpty ? "status \(status)" : parts.joined(separator: ", ")
    }
}
