import KXOver
import TLSPool

/// What a configured local realm becomes in the engine and in the TLS Pool,
/// built in one place so kxoverd and `kxover cross` cannot drift apart.
/// Only valid once `daemonProblems()` found kdc_host, certificate and private_key.
extension Configuration.Realm {
    var crossoverPolicy: LocalRealmPolicy {
        LocalRealmPolicy(realm: name, kdcHost: kdcHost!.lowercased(), etypes: etypes, keyLifetime: keyLifetime, peers: peers)
    }

    var poolIdentity: TLSPoolConfiguration.Identity {
        .init(localID: kdcHost!, certificateFile: certificate!, keyFile: privateKey!, peerTrustAnchorsFile: peerTrustAnchors)
    }
}
