/// Every section and relation kxover.conf may hold, and which relations may
/// be repeated. Anything else in the file is an error (a misspelled relation
/// would otherwise be ignored without a word). scripts/check-packaging checks
/// that this table names exactly the relations Configuration.swift reads.
enum KnownRelations {
    struct Relation: Sendable {
        let name: String
        /// Several values, each on its own line; the others take one value.
        let repeatable: Bool
        /// Why a one-value relation takes only one, where an administrator may wonder.
        let whyOne: String?

        init(_ name: String, repeatable: Bool = false, whyOne: String? = nil) {
            self.name = name
            self.repeatable = repeatable
            self.whyOne = whyOne
        }
    }

    static let daemonSection = "kxoverd"
    static let realmsSection = "realms"
    static let sections = [daemonSection, realmsSection]

    /// kxoverd's `listen` faces the clients on every address family; krb5kdc
    /// behind it only ever hears from kxoverd, so one loopback address serves.
    static let backendKDCWhyOne = "krb5kdc behind kxoverd serves only kxoverd, so one loopback address is enough "
        + "(the public IPv4 and IPv6 addresses go in listen)"

    /// `[kxoverd]`.
    static let daemon: [Relation] = [
        .init("listen", repeatable: true), .init("backend_kdc", whyOne: backendKDCWhyOne), .init("tls_pool"),
        .init("host_based_triggers"), .init("hostrealm_socket"), .init("hostrealm_cache_ttl"), .init("hostrealm_negative_ttl"),
        .init("pid_file"), .init("control_socket"), .init("metrics_listen"),
        .init("drain_timeout"), .init("key_check_interval"),
        .init("max_exchanges_in_flight"), .init("max_exchanges_per_minute"), .init("peer_address_allow", repeatable: true),
        .init("max_new_realms_per_zone"), .init("max_exchanges_per_zone_per_minute"),
        .init("max_starttls_per_source_per_minute"), .init("allow_short_key_lifetime"),
        .init("privsep"), .init("kxover_user"),
        .init("dns_trust_anchor", repeatable: true), .init("dns_trust_anchor_file", repeatable: true),
        .init("dns_forward", repeatable: true), .init("dns_stub", repeatable: true),
        .init("dns_option", repeatable: true), .init("dns_timeout"),
    ]

    /// Relations earlier releases read, with what to do instead.
    static let removed: [String: String] = [
        "known_key_ttl": "kxoverd no longer caches which keys exist: it reads the KDB for every cross-realm request, "
            + "so a removed key is noticed at once (docs/operating.md); delete the line",
    ]

    /// A realm's subsection of `[realms]`.
    static let realm: [Relation] = [
        .init("kdc_host"), .init("certificate"), .init("private_key"), .init("backend_kdc"),
        .init("kadm5_mode"), .init("kdc_profile"), .init("krb5_config"),
        .init("admin_server"), .init("admin_principal"), .init("admin_keytab"), .init("kadm5_policy"),
        .init("enctypes"), .init("key_lifetime"), .init("replica_kdc_profile"), .init("replica_wait"),
        .init("peers_allowed", repeatable: true), .init("peers_denied", repeatable: true),
        .init("incoming"), .init("outgoing"), .init("reciprocal"), .init("max_peer_realms"),
        .init("peer_trust_anchors"),
    ]
}
