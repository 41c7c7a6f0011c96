/// When a request should start a crossover (spec §1.3, decision): a TGS-REQ
/// for `krbtgt/REMOTE@LOCAL`, where LOCAL is one of our realms and REMOTE is a
/// DNS-style realm other than LOCAL; and, when host-based triggers are on, a
/// referral-style TGS-REQ for `service/host` whose host DNSSEC places in a
/// remote realm (the KDC then learns that realm from the hostrealm module).
public enum CrossoverTrigger {
    public struct Decision: Hashable, Sendable {
        public let localRealm: String
        public let remoteRealm: String

        public init(localRealm: String, remoteRealm: String) {
            self.localRealm = localRealm
            self.remoteRealm = remoteRealm
        }
    }

    /// Before the KDC sees it: a TGS-REQ asking one of our realms for
    /// `krbtgt/REMOTE`. MIT krb5kdc caches its answer to a request's exact
    /// bytes (its lookaside cache, about two minutes), so a request replayed
    /// after an exchange would get the cached KRB-ERROR 7 again; the engine
    /// therefore holds such a request *before* forwarding it until the KDB
    /// holds a usable key.
    public static func crossRealmTarget(of request: [UInt8], localRealms: Set<String>) -> Decision? {
        tgsRequestPeek(request).flatMap { crossRealmTarget(of: $0, localRealms: localRealms) }
    }

    /// `crossRealmTarget(of:localRealms:)` for a request already peeked (the
    /// relay decodes each request once for every question it asks). The one
    /// guard chain both triggers share: a TGS-REQ to one of our realms for
    /// `krbtgt/REMOTE`, REMOTE a valid realm that is not ours.
    public static func crossRealmTarget(of peek: KDCRequestPeek, localRealms: Set<String>) -> Decision? {
        guard peek.kind == .tgsRequest, localRealms.contains(peek.realm), let remote = peek.sname?.krbtgtRealm,
              remote != peek.realm, RealmName.isValid(remote), !localRealms.contains(remote) else { return nil }
        return Decision(localRealm: peek.realm, remoteRealm: remote)
    }

    /// After krb5kdc answered: KRB-ERROR 7 for `krbtgt/REMOTE`. Host-based
    /// names never trigger here, whatever `hostBased` says: they are decided
    /// before the KDC sees them (`hostBasedRequest`, then `hostBasedDecision`),
    /// when the host's realm is already known to be remote, ours, or not
    /// vouched for by DNSSEC; an error 7 afterwards is the KDC's last word.
    public static func decide(request: [UInt8], reply: [UInt8], localRealms: Set<String>,
                              hostBased: Bool = false) -> Decision? {
        guard reply.first == KRBError.applicationTag, let error = try? KRBError(derEncoded: reply),
              error.errorCode == KerberosErrorCode.serverPrincipalUnknown else { return nil }
        return crossRealmTarget(of: request, localRealms: localRealms)
    }

    /// The peek of `request` when it is a TGS-REQ that decodes, the only
    /// kind of request that can trigger; nil otherwise.
    public static func tgsRequestPeek(_ request: [UInt8]) -> KDCRequestPeek? {
        guard request.first == 0x6C else { return nil }   // the TGS-REQ tag; the peek checks the rest
        return try? KDCRequestPeek(derEncoded: request)
    }

    // MARK: - Host-based names (referrals)

    /// A TGS-REQ the KDC will try to answer with a referral (MIT krb5kdc's
    /// `find_referral_tgs`): `service/host.name` asked of one of our realms.
    public struct HostBasedRequest: Hashable, Sendable {
        public let localRealm: String
        public let service: String
        /// Lower case, without a root dot.
        public let host: String
    }

    /// KDCOptions bit 28 (RFC 4120): user-to-user; the KDC gives no referral then.
    static let encTktInSkey: UInt32 = 1 << (31 - 28)

    /// Before the KDC sees it: a TGS-REQ to one of our realms for a
    /// two-component name whose first component is not `krbtgt`, of name-type
    /// NT-SRV-HST, with the canonicalize option (and not user-to-user), whose
    /// host looks like a DNS name with a dot. Only such a request makes
    /// krb5kdc ask the hostrealm module for the host's realm.
    public static func hostBasedRequest(of request: [UInt8], localRealms: Set<String>) -> HostBasedRequest? {
        tgsRequestPeek(request).flatMap { hostBasedRequest(of: $0, localRealms: localRealms) }
    }

    /// `hostBasedRequest(of:localRealms:)` for a request already peeked.
    public static func hostBasedRequest(of peek: KDCRequestPeek, localRealms: Set<String>) -> HostBasedRequest? {
        guard peek.kind == .tgsRequest, localRealms.contains(peek.realm), peek.canonicalize, peek.options & encTktInSkey == 0,
              let sname = peek.sname, sname.nameType == NameType.serviceHost, sname.components.count == 2,
              sname.components[0] != "krbtgt", !sname.components[0].isEmpty,
              let host = HostName.normalized(sname.components[1]) else { return nil }
        return HostBasedRequest(localRealm: peek.realm, service: sname.components[0], host: host)
    }

    /// Once DNSSEC named the host's realm (nil: unknown, insecure, bogus):
    /// cross over to it when it is a valid realm that is not one of ours.
    public static func hostBasedDecision(_ request: HostBasedRequest, hostRealm: String?, localRealms: Set<String>) -> Decision? {
        guard let realm = hostRealm, RealmName.isValid(realm), realm != request.localRealm,
              !localRealms.contains(realm) else { return nil }
        return Decision(localRealm: request.localRealm, remoteRealm: realm)
    }
}

/// Host names as the hostrealm question and the referral trigger accept them.
public enum HostName {
    /// `host` in lower case without a root dot, when it is 1-253 octets of
    /// letters, digits, hyphens and underscores in non-empty labels of at most
    /// 63 octets, with at least one dot; nil otherwise.
    public static func normalized(_ host: String) -> String? {
        var bytes = Array(host.utf8)
        if bytes.last == UInt8(ascii: ".") { bytes.removeLast() }
        guard (3...253).contains(bytes.count) else { return nil }
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return nil }
        for label in labels {
            guard (1...63).contains(label.count), label.allSatisfy(isHostByte) else { return nil }
        }
        return String(decoding: bytes, as: UTF8.self).lowercased()
    }

    private static func isHostByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
    }
}
