/// When a backend reply should start a crossover (spec §1.3, decision):
/// a KRB-ERROR 7 (principal unknown) answering a TGS-REQ for
/// `krbtgt/REMOTE@LOCAL`, where LOCAL is one of our realms and REMOTE is a
/// DNS-style realm other than LOCAL. Host-based names (`service/host`) trigger
/// only when enabled, since the KDC then also needs the host's realm
/// (the hostrealm module) for the replayed request to succeed.
public enum CrossoverTrigger {
    public struct Decision: Hashable, Sendable {
        public let localRealm: String
        public let target: ClientCrossover.Target
    }

    /// Before the KDC sees it: a TGS-REQ asking one of our realms for
    /// `krbtgt/REMOTE`. MIT krb5kdc caches its answer to a request's exact
    /// bytes (its lookaside cache, about two minutes), so a request replayed
    /// after an exchange would get the cached KRB-ERROR 7 again; the engine
    /// therefore holds such a request *before* forwarding it whenever the
    /// crossover key is not known to exist.
    public static func crossRealmTarget(of request: [UInt8], localRealms: Set<String>) -> Decision? {
        guard request.first == 0x6C, let peek = try? KDCRequestPeek(derEncoded: request), peek.kind == .tgsRequest,
              localRealms.contains(peek.realm), let remote = peek.sname?.krbtgtRealm,
              remote != peek.realm, RealmName.isValid(remote), !localRealms.contains(remote) else { return nil }
        return Decision(localRealm: peek.realm, target: .realm(remote))
    }

    public static func decide(request: [UInt8], reply: [UInt8], localRealms: Set<String>,
                              hostBased: Bool = false) -> Decision? {
        guard reply.first == KRBError.applicationTag, request.first == 0x6C,
              let error = try? KRBError(derEncoded: reply), error.errorCode == KerberosErrorCode.serverPrincipalUnknown,
              let peek = try? KDCRequestPeek(derEncoded: request), peek.kind == .tgsRequest,
              localRealms.contains(peek.realm), let sname = peek.sname, sname.components.count == 2 else { return nil }
        if let remote = sname.krbtgtRealm {
            guard remote != peek.realm, RealmName.isValid(remote), !localRealms.contains(remote) else { return nil }
            return Decision(localRealm: peek.realm, target: .realm(remote))
        }
        guard hostBased, sname.components[1].contains(".") else { return nil }
        return Decision(localRealm: peek.realm, target: .host(sname.components[1].lowercased()))
    }
}
