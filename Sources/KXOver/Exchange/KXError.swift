/// The one error type of an exchange. Its codes keep the distinctions of the
/// reference's com_err table (spec §5.7), plus a few of ours, so logs and
/// metrics say exactly which check failed. The detail stays local; what a
/// refusing side tells its peer is the code and a short public reason
/// (`Refusal`).
public struct KXError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case realmsCheck = "REALMSCHECK"          // realm not in a certificate
        case dnssecKDC = "DNSSEC_KDC"             // bad _kerberos-tls._tcp SRV
        case dnssecRealm = "DNSSEC_REALM"         // bad _kerberos TXT
        case dnssecTLSA = "DNSSEC_TLSA"           // ours: bad _88._tcp TLSA
        case connect = "CONNECT"                  // no connection to any KXOVER server
        case dnsAddress = "DNS_AAAA_A"
        case errorEvent = "ERROR_EVENT"
        case disconnected = "DISCONNECTED"
        case sizeError = "SIZE_ERROR"             // wrong TCP prefix or STARTTLS reply
        case clientHostname = "CLIENT_HOSTNAME"   // no local certified host name
        case hostCheck = "HOSTCHECK"              // certified host not among the SRV targets
        case keyStoring = "KEY_STORING"
        case dnsError = "DNS_ERROR"
        case dnsTrustAnchor = "DNS_TRUSTANCHOR"
        case transport = "TRANSPORT"              // malformed KX message
        case offer = "OFFER"                      // malformed KX-OFFER
        case cancelled = "CANCELLED"
        case timeout = "TIMEOUT"
        case offerPrincipal = "OFFER_PRINCIPAL"
        case offerNameType = "OFFER_NAMETYPE"
        case offerService = "OFFER_SERVICE"
        case offerRealm = "OFFER_REALM"
        case offerTiming = "OFFER_TIMING"
        case mergeNameType = "MERGE_NAMETYPE"
        case mergeRealm = "MERGE_REALM"
        case mergePrincipal = "MERGE_PRINCIPAL"
        case mergeTiming = "MERGE_TIMING"
        // Ours: checks the reference lacked (spec §5.5 "+" items).
        case offerEtypes = "OFFER_ETYPES"         // not strictly rising, or no shared etype
        case offerSalt = "OFFER_SALT"
        case offerKvno = "OFFER_KVNO"
        case offerExtension = "OFFER_EXTENSION"   // unknown critical extension
        case tls = "TLS"
        case rateLimited = "RATE_LIMITED"
        case policy = "POLICY"                    // the administrator's peer policy refuses the realm
        case refused = "REFUSED"                  // the peer refused with a code we do not know
    }

    public let code: Code
    public let detail: String
    /// For decoding failures: the field and byte offset at fault.
    public let decodeFailure: DecodeFailure?
    /// Set when the peer told us this refusal (a KRB-ERROR or a TLS alert):
    /// its host name. `detail` is then the peer's sanitised reason.
    public let refusedBy: String?

    public init(_ code: Code, _ detail: String, decodeFailure: DecodeFailure? = nil, refusedBy: String? = nil) {
        self.code = code
        self.detail = detail
        self.decodeFailure = decodeFailure
        self.refusedBy = refusedBy
    }

    /// Logged and shown by `kxover status`: details may quote what a peer or
    /// DNS sent, so they are escaped (LogText) here, once for every reader.
    public var description: String {
        let text = LogText.escaped(detail, limit: 1024)
        return refusedBy.map { "refused by \(LogText.escaped($0)): \(code.rawValue): \(text)" } ?? "\(code.rawValue): \(text)"
    }
}
