/// What a refusing KDC tells its peer, and how the peer reads it. Our choice
/// of spec §5.6's option: instead of KX-REP (and instead of the `00 00 00 00`
/// that accepts STARTTLS) the server sends one framed KRB-ERROR 60
/// (KRB_ERR_GENERIC) whose e-text is `<KXOVER CODE>: <short reason>`, then
/// closes. The reason is public by construction: senders pass text written
/// for the peer (`publicReason`), never an error's local detail, which may
/// hold paths, kadm5 messages or timings. The text is peer-supplied on the
/// receiving side, so both sides keep it to printable ASCII and a length cap.
public enum Refusal {
    /// Longest e-text we send or report; longer text is cut.
    public static let maximumTextLength = 200

    /// The KRB-ERROR telling the peer `code` and `reason`, from `realm`'s TGS.
    public static func krbError(_ code: KXError.Code, _ reason: String, realm: String, now: KerberosTime) -> KRBError {
        KRBError.make(code: KerberosErrorCode.generic, realm: realm, now: now, text: sanitised("\(code.rawValue): \(reason)"))
    }

    /// The same, framed for the TCP stream (4-byte length, then the DER).
    public static func frame(_ code: KXError.Code, _ reason: String, realm: String, now: KerberosTime) -> [UInt8] {
        TCPFraming.frame(krbError(code, reason, realm: realm, now: now).derEncoded)
    }

    /// The error a client reports for a KRB-ERROR that `peer` sent in place
    /// of an answer. An unknown code or an e-text without one maps to REFUSED;
    /// KRB_ERR_FIELD_TOOLONG is a legacy KDC's "no STARTTLS here" (spec §3.2).
    public static func received(_ error: KRBError, from peer: String) -> KXError {
        let text = sanitised(error.eText ?? "")
        switch error.errorCode {
        case KerberosErrorCode.generic:
            if let (code, reason) = parse(text) { return KXError(code, reason, refusedBy: peer) }
            return KXError(.refused, text.isEmpty ? "KRB-ERROR 60 without a reason" : text, refusedBy: peer)
        case KerberosErrorCode.fieldTooLong:
            return KXError(.sizeError, "STARTTLS not supported (KRB-ERROR 61" + (text.isEmpty ? ")" : ": \(text))"), refusedBy: peer)
        default:
            return KXError(.refused, "KRB-ERROR \(error.errorCode)" + (text.isEmpty ? "" : ": \(text)"), refusedBy: peer)
        }
    }

    /// `CODE: reason` with a code we know; nil otherwise.
    static func parse(_ text: String) -> (KXError.Code, String)? {
        guard let colon = text.firstIndex(of: ":"), let code = KXError.Code(rawValue: String(text[..<colon])) else { return nil }
        let reason = text[text.index(after: colon)...].drop { $0 == " " }
        return (code, reason.isEmpty ? "no reason given" : String(reason))
    }

    /// Printable ASCII only (anything else becomes `?`), at most
    /// `maximumTextLength` characters (a cut is marked with `...`).
    public static func sanitised(_ text: String) -> String {
        let printable = String(text.unicodeScalars.prefix(maximumTextLength + 1).map { (0x20...0x7E).contains($0.value) ? Character($0) : "?" })
        return printable.count > maximumTextLength ? printable.prefix(maximumTextLength - 3) + "..." : printable
    }

    /// What a service KDC tells a client for `code` when the failing stage has
    /// nothing more specific to say. Never the local detail of an error.
    public static func publicReason(_ code: KXError.Code) -> String {
        switch code {
        case .realmsCheck: return "the certificates do not name the realms of the offer"
        case .dnssecKDC: return "no DNSSEC-secure _kerberos-tls._tcp SRV for the client realm"
        case .dnssecRealm: return "no DNSSEC-secure _kerberos TXT"
        case .dnssecTLSA: return "no DNSSEC-secure TLSA record"
        case .dnsError, .dnsAddress, .dnsTrustAnchor: return "a DNS lookup failed at the service KDC"
        case .hostCheck: return "the client host is not a KDC of the client realm"
        case .keyStoring: return "the service KDC could not store the key"
        case .transport: return "malformed KX message"
        case .offer: return "malformed KX-OFFER"
        case .offerPrincipal, .offerNameType, .offerService, .offerRealm: return "unacceptable names in the offer"
        case .offerTiming: return "request-time, from or till out of bounds (check the clock)"
        case .offerEtypes: return "no etype in common with the service KDC"
        case .offerSalt: return "unacceptable salt"
        case .offerKvno: return "unacceptable kvno"
        case .offerExtension: return "unknown critical extension"
        case .mergeNameType, .mergeRealm, .mergePrincipal, .mergeTiming: return "the offers do not merge"
        case .rateLimited: return "too many exchanges; try again later"
        case .policy: return "the service realm's policy does not cross with the client realm"
        case .timeout: return "the service KDC did not finish in time"
        case .tls: return "the service KDC could not derive the key"
        default: return "the service KDC refused the exchange"
        }
    }
}
