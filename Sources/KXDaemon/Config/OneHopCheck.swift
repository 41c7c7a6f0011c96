import KXKDB

/// One hop is enforced in krb5kdc, by kxover's kdcpolicy module
/// (docs/transit.md). Where kxoverd knows the KDC's profile (local mode:
/// kdc_profile), it says so when krb5kdc would not load the module: without
/// it, MIT lets users through a realm that is a DNS ancestor of both ends.
/// A warning, not a refusal: the KDC's configuration is not kxoverd's.
public enum OneHopCheck {
    public static func warnings(_ configuration: Configuration) -> [String] {
        configuration.realms.values.sorted(by: { $0.name < $1.name }).compactMap { realm in
            let kadmin = realm.kadmin
            guard kadmin.mode == .local else { return nil }
            let profiles = kadmin.profileFiles.compactMap { try? ProfileFile(path: $0) }
            guard !profiles.isEmpty else { return nil }   // the KDB check reports an unreadable profile
            // Loaded: a "module = kxover:..." line, and neither "disable = kxover" nor an
            // "enable_only" list without it (MIT's [plugins] rules).
            let values = { (name: String) in profiles.flatMap { $0.values(["plugins", "kdcpolicy", name]) } }
            let enableOnly = values("enable_only")
            let loaded = values("module").contains { $0.hasPrefix("kxover:") } && !values("disable").contains("kxover")
                && (enableOnly.isEmpty || enableOnly.contains("kxover"))
            if loaded { return nil }
            return "[realms] \(realm.name): one hop is not enforced: \(kadmin.profileFiles[0]) "
                + "loads no kxover kdcpolicy module ([plugins] kdcpolicy = { module = kxover:PATH }, docs/transit.md)"
        }
    }
}
