import CGnuTLS
import Foundation

/// One parsed certificate (GnuTLS) for the checks the pool makes itself.
final class X509Certificate {
    private let handle: gnutls_x509_crt_t
    let der: [UInt8]

    init?(der: [UInt8]) {
        var crt: gnutls_x509_crt_t?
        guard gnutls_x509_crt_init(&crt) == GNUTLS_E_SUCCESS, let crt else { return nil }
        let imported = GnuTLS.withDatums([der]) { datums, _ in gnutls_x509_crt_import(crt, datums, GNUTLS_X509_FMT_DER) }
        guard imported == GNUTLS_E_SUCCESS else {
            gnutls_x509_crt_deinit(crt)
            return nil
        }
        handle = crt
        self.der = der
    }

    deinit { gnutls_x509_crt_deinit(handle) }

    var validity: ValidityPeriod {
        ValidityPeriod(activation: Date(timeIntervalSince1970: TimeInterval(gnutls_x509_crt_get_activation_time(handle))),
                       expiration: Date(timeIntervalSince1970: TimeInterval(gnutls_x509_crt_get_expiration_time(handle))))
    }

    /// True when the certificate names `host` (SAN dNSName, or CN without SANs).
    func names(host: String) -> Bool {
        gnutls_x509_crt_check_hostname2(handle, host, 0) != 0
    }
}

/// A certificate's notBefore and notAfter.
struct ValidityPeriod: Sendable, Equatable {
    let activation: Date
    let expiration: Date

    /// nil when valid at `now`, else why not.
    func problem(at now: Date = Date()) -> String? {
        if now < activation { return "not valid before \(activation)" }
        if now > expiration { return "expired at \(expiration)" }
        return nil
    }
}
