import Foundation
import KXDNS
import KXEventLoop
import KXKDB
import KXOver

/// kxover's configuration: one file in krb5 profile syntax (as kdc.conf),
/// read through libkrb5's profile library. See kdc-conf/kxover.conf.example.
public struct Configuration: Sendable {
    /// One local realm kxover acts for.
    public struct Realm: Sendable, Hashable {
        public var name: String
        /// The KDC host name this realm's certificate and SRV records name.
        public var kdcHost: String?
        public var certificate: String?
        public var privateKey: String?
        /// peer_trust_anchors: federation roots (PEM) a peer's certificate must also chain to.
        public var peerTrustAnchors: String?
        /// Where krb5kdc itself listens (loopback), behind the front end.
        public var backendKDC: String?
        public var kadmin: KadminConfiguration
        /// Etypes we offer, as numbers, strictly rising.
        public var etypes: [Int32]
        public var keyLifetime: Int64
        /// Beside a replica KDC: its kdc.conf, read (never written) to hold
        /// KX-REP until iprop has carried the new key there; and how long to wait.
        public var replica: KadminConfiguration?
        public var replicaWait: Double = 3
        /// Which peer realms cross with this one (peers_allowed, peers_denied, incoming, outgoing).
        public var peers: PeerPolicy = .open
    }

    public var path: String
    public var realms: [String: Realm]
    /// The validating resolver, from `[kxoverd]` dns_* relations.
    public var resolver: ResolverConfiguration
    /// `[kxoverd]` listen: the public KDC addresses (UDP and TCP), e.g. 0.0.0.0:88.
    public var listen: [String] = []
    /// `[kxoverd]` backend_kdc: where krb5kdc itself listens (loopback).
    public var backendKDC: String?
    /// `[kxoverd]` tls_pool: "embedded" (default) or the path of a pool socket.
    public var tlsPool: String = "embedded"
    /// `[kxoverd]` host_based_triggers: also cross for service/host names (needs the hostrealm module).
    public var hostBasedTriggers = false
    /// `[kxoverd]` hostrealm_socket: where krb5kdc's hostrealm module asks for a host's realm.
    public var hostRealmSocket: String?
    /// `[kxoverd]` hostrealm_cache_ttl: how long a Secure `_kerberos` TXT answer is reused (default 60s, at most 1h).
    public var hostRealmCacheTTL: Int64 = 60
    /// `[kxoverd]` hostrealm_negative_ttl: how long a host's "no realm" (no record, insecure,
    /// bogus, no answer) is reused (default 10s, at most 5m).
    public var hostRealmNegativeTTL: Int64 = 10
    /// `[kxoverd]` peer_address_allow: special address classes the client side may connect to
    /// (loopback, private, link-local, multicast, unspecified, metadata, reserved); none by default.
    public var peerAddressAllow: Set<PeerAddressPolicy.AddressClass> = []
    /// `[kxoverd]` pid_file.
    public var pidFile: String?

    /// `[kxoverd]` control_socket: where `kxover status` asks the running daemon.
    public var controlSocket: String?
    /// `[kxoverd]` metrics_listen: address:port for Prometheus scrapes of /metrics.
    public var metricsListen: String?
    /// `[kxoverd]` drain_timeout: how long SIGTERM waits for exchanges in flight (default 10s, at most 2m).
    public var drainTimeout: Int64 = 10
    /// `[kxoverd]` privsep: split into a keeper (kadm5, the KDB) and an
    /// unprivileged engine (network, DNS, TLS); false only for tests and development.
    public var privsep = true
    /// `[kxoverd]` kxover_user: the account the engine runs as (default kxover).
    public var kxoverUser = "kxover"
    /// `[kxoverd]` key_check_interval: how often keys are checked for renewal,
    /// ticket-lifetime caps and pruning (default 10m; 1s to 1h).
    public var keyCheckInterval: Int64 = 600
    /// `[kxoverd]` max_exchanges_in_flight and max_exchanges_per_minute: global
    /// limits on exchanges, both sides together (spec §7.4's backoff is per realm).
    public var maxExchangesInFlight = 256
    public var maxExchangesPerMinute = 600
    /// STARTTLS words one source network (/24, /56) may send a minute.
    public var maxStartTLSPerSourcePerMinute = 60
    /// Different peer realms below one DNS parent zone that may cross in an hour.
    public var maxNewRealmsPerZone = 20
    /// Exchanges with realms below one parent zone per minute; nil: a quarter of max_exchanges_per_minute.
    public var maxExchangesPerZonePerMinute: Int?

    /// The zone budget's limits these settings give.
    public var zoneLimits: ZoneBudget.Limits {
        var limits = ZoneBudget.Limits.defaults(globalPerMinute: maxExchangesPerMinute)
        limits.newRealmsPerHour = maxNewRealmsPerZone
        if let maxExchangesPerZonePerMinute { limits.exchangesPerMinute = maxExchangesPerZonePerMinute }
        return limits
    }
    /// `[kxoverd]` allow_short_key_lifetime: accept key_lifetime below 7d (tests only).
    public var allowShortKeyLifetime = false

    public static let defaultPath = "/etc/kxover/kxover.conf"
    public static let defaultEtypes: [Int32] = [17, 18, 19, 20]

    public init(path: String, realms: [String: Realm], resolver: ResolverConfiguration = .defaults) {
        self.path = path
        self.realms = realms
        self.resolver = resolver
    }

    /// Reads and validates `path`. Every problem is reported with the
    /// relation's place in the file, and nothing half-valid is returned.
    public static func load(path: String, requireRealms: Bool = true) throws -> Configuration {
        let profile: ProfileFile
        do {
            profile = try ProfileFile(path: path)
        } catch let failure as Krb5Failure {
            throw ConfigurationError(path: path, problems: [failure.description])
        }
        // Misspelled or misplaced relations first: a value check below would
        // otherwise miss them (a relation nobody reads is never checked).
        let misplaced = RelationCheck.problems(in: profile, outline: ProfileOutline(path: path))
        var problems: [String] = []
        var realms: [String: Realm] = [:]
        let allowShort = flag(profile.value(["kxoverd", "allow_short_key_lifetime"]))
        for name in profile.subsections(["realms"]) {
            do {
                realms[name] = try realm(name, in: profile, allowShortLifetime: allowShort)
            } catch let error as ConfigurationError {
                problems += error.problems
            }
        }
        if realms.isEmpty && problems.isEmpty && requireRealms {
            problems.append("[realms] names no realm")
        }
        let resolver = resolverConfiguration(profile, problems: &problems)
        guard misplaced.isEmpty && problems.isEmpty else {
            throw ConfigurationError(path: path, located: misplaced + ConfigurationError(path: path, problems: problems).located)
        }
        var configuration = Configuration(path: path, realms: realms, resolver: resolver)
        configuration.listen = profile.values(["kxoverd", "listen"]).flatMap { $0.split(separator: " ").map(String.init) }
        configuration.backendKDC = profile.value(["kxoverd", "backend_kdc"])
        configuration.tlsPool = profile.value(["kxoverd", "tls_pool"]) ?? "embedded"
        configuration.hostBasedTriggers = flag(profile.value(["kxoverd", "host_based_triggers"]))
        configuration.allowShortKeyLifetime = allowShort
        configuration.controlSocket = profile.value(["kxoverd", "control_socket"])
        configuration.metricsListen = profile.value(["kxoverd", "metrics_listen"])
        for word in profile.values(["kxoverd", "peer_address_allow"]).flatMap({ $0.split(separator: " ").map(String.init) }) {
            guard let kind = PeerAddressPolicy.AddressClass(rawValue: word) else {
                let known = PeerAddressPolicy.AddressClass.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigurationError(path: path, problems: ["[kxoverd] peer_address_allow \"\(word)\" is not an address class (\(known))"])
            }
            configuration.peerAddressAllow.insert(kind)
        }
        func duration(_ key: String, _ range: ClosedRange<Int64>, _ rangeText: String) throws -> Int64? {
            guard let text = profile.value(["kxoverd", key]) else { return nil }
            guard let seconds = DurationText.seconds(text), range.contains(seconds) else {
                throw ConfigurationError(path: path, problems: ["[kxoverd] \(key) \"\(text)\" must be a duration \(rangeText)"])
            }
            return seconds
        }
        func number(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = profile.value(["kxoverd", key]) else { return nil }
            guard let number = Int(text), range.contains(number) else {
                throw ConfigurationError(path: path, problems: ["[kxoverd] \(key) \"\(text)\" must be a number from \(range.lowerBound) to \(range.upperBound)"])
            }
            return number
        }
        configuration.maxExchangesInFlight = try number("max_exchanges_in_flight", 1...100_000) ?? configuration.maxExchangesInFlight
        configuration.maxExchangesPerMinute = try number("max_exchanges_per_minute", 1...1_000_000) ?? configuration.maxExchangesPerMinute
        configuration.maxNewRealmsPerZone = try number("max_new_realms_per_zone", 1...100_000) ?? configuration.maxNewRealmsPerZone
        configuration.maxStartTLSPerSourcePerMinute = try number("max_starttls_per_source_per_minute", 1...1_000_000)
            ?? configuration.maxStartTLSPerSourcePerMinute
        configuration.maxExchangesPerZonePerMinute = try number("max_exchanges_per_zone_per_minute", 1...1_000_000)
        configuration.drainTimeout = try duration("drain_timeout", 0...120, "of at most 2m") ?? configuration.drainTimeout
        configuration.keyCheckInterval = try duration("key_check_interval", 1...3600, "from 1s to 1h") ?? configuration.keyCheckInterval
        for name in configuration.realms.keys {
            configuration.realms[name]!.kadmin.ticketLifetimeMargin = configuration.keyCheckInterval
        }
        configuration.pidFile = profile.value(["kxoverd", "pid_file"])
        if let text = profile.value(["kxoverd", "privsep"]) {
            guard let on = boolean(text) else {
                throw ConfigurationError(path: path, problems: ["[kxoverd] privsep \"\(text)\" must be true or false"])
            }
            configuration.privsep = on
        }
        configuration.kxoverUser = profile.value(["kxoverd", "kxover_user"]) ?? configuration.kxoverUser
        configuration.hostRealmSocket = profile.value(["kxoverd", "hostrealm_socket"])
        configuration.hostRealmCacheTTL = try duration("hostrealm_cache_ttl", 0...Int64(SecureAnswerCache.maximumTTL), "of at most 1h")
            ?? configuration.hostRealmCacheTTL
        configuration.hostRealmNegativeTTL = try duration("hostrealm_negative_ttl", 0...Int64(HostRealmCache.Policy.maximumRefusalTTL),
                                                          "of at most 5m") ?? configuration.hostRealmNegativeTTL
        return configuration
    }

    /// What the daemon needs beyond what `kxover` needs; every missing piece is named.
    public func daemonProblems() -> [String] {
        var problems: [String] = []
        if listen.isEmpty { problems.append("[kxoverd] listen is missing (e.g. listen = 0.0.0.0:88)") }
        if backendKDC == nil { problems.append("[kxoverd] backend_kdc is missing (krb5kdc's own address, e.g. 127.0.0.1:8888)") }
        problems += addressProblems()
        for (key, socket) in [("hostrealm_socket", hostRealmSocket), ("control_socket", controlSocket)] {
            guard let socket else { continue }
            let folder = (socket as NSString).deletingLastPathComponent
            var isFolder: ObjCBool = false
            if !socket.hasPrefix("/") || !FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) || !isFolder.boolValue {
                problems.append("[kxoverd] \(key) \(socket) must be an absolute path in an existing directory")
            }
        }
        if let metricsListen, (try? SocketAddress(parsing: metricsListen, defaultPort: MetricsEndpoint.defaultPort)) == nil {
            problems.append("[kxoverd] metrics_listen \"\(metricsListen)\" must be ADDRESS:PORT, e.g. 127.0.0.1:9749")
        }
        for realm in realms.values.sorted(by: { $0.name < $1.name }) {
            if realm.kdcHost == nil { problems.append("[realms] \(realm.name): kdc_host is missing") }
            if tlsPool == "embedded" {
                var files = [("certificate", realm.certificate), ("private_key", realm.privateKey)]
                if let anchors = realm.peerTrustAnchors { files.append(("peer_trust_anchors", anchors)) }
                for (key, value) in files {
                    guard let value else { problems.append("[realms] \(realm.name): \(key) is missing"); continue }
                    if !FileManager.default.isReadableFile(atPath: value) {
                        problems.append("[realms] \(realm.name): \(key) \(value) is not readable")
                    }
                }
            }
        }
        return problems
    }

    /// `[kxoverd]` dns_trust_anchor (DS/DNSKEY text, repeatable),
    /// dns_trust_anchor_file, dns_forward (addr[@port], repeatable),
    /// dns_stub ("zone addr[@port]"), dns_option ("name: value"), dns_timeout.
    static func resolverConfiguration(_ profile: ProfileFile, problems: inout [String]) -> ResolverConfiguration {
        var resolver = ResolverConfiguration.defaults
        let section = "kxoverd"
        let anchors = profile.values([section, "dns_trust_anchor"])
        let anchorFiles = profile.values([section, "dns_trust_anchor_file"])
        if !anchors.isEmpty || !anchorFiles.isEmpty {
            resolver.trustAnchors = anchors
            resolver.trustAnchorFiles = anchorFiles
        }
        resolver.forwarders = profile.values([section, "dns_forward"])
        for stub in profile.values([section, "dns_stub"]) {
            let parts = stub.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count == 2 {
                resolver.stubs.append(.init(zone: String(parts[0]), address: String(parts[1])))
            } else {
                problems.append("[\(section)] dns_stub \"\(stub)\" must be \"ZONE ADDRESS[@PORT]\"")
            }
        }
        for option in profile.values([section, "dns_option"]) {
            guard let colon = option.firstIndex(of: ":") else {
                problems.append("[\(section)] dns_option \"\(option)\" must be \"name: value\"")
                continue
            }
            resolver.options.append(.init(String(option[...colon]), String(option[option.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        if let text = profile.value([section, "dns_timeout"]) {
            if let seconds = Double(text), seconds > 0, seconds <= 60 { resolver.queryTimeout = seconds }
            else { problems.append("[\(section)] dns_timeout \"\(text)\" must be seconds between 0 and 60") }
        }
        return resolver
    }

    /// true/yes/on/1 or false/no/off/0; nil for anything else.
    static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "yes", "on", "1": true
        case "false", "no", "off", "0": false
        default: nil
        }
    }

    /// An optional switch: on only when it says so.
    static func flag(_ text: String?) -> Bool {
        text.flatMap(boolean) ?? false
    }

    static func realm(_ name: String, in profile: ProfileFile, allowShortLifetime: Bool = false) throws -> Realm {
        var problems: [String] = []
        let place = "[realms] \(name)"
        func value(_ key: String) -> String? { profile.value(["realms", name, key]) }
        if !RealmName.isValid(name) {
            problems.append("\(place): \"\(name)\" is not an upper-case DNS-style realm name")
        }
        let modeText = value("kadm5_mode") ?? "local"
        let mode = Kadm5Mode(rawValue: modeText)
        if mode == nil { problems.append("\(place): kadm5_mode must be local or remote, not \"\(modeText)\"") }
        var profileFiles: [String] = []
        switch mode {
        case .local?:
            profileFiles = [value("kdc_profile") ?? "/etc/krb5kdc/kdc.conf", value("krb5_config") ?? "/etc/krb5.conf"]
        case .remote?:
            profileFiles = [value("krb5_config") ?? "/etc/krb5.conf"]
            if value("admin_server") == nil { problems.append("\(place): kadm5_mode = remote needs admin_server") }
            if value("admin_keytab") == nil { problems.append("\(place): kadm5_mode = remote needs admin_keytab") }
        case nil:
            break
        }
        var etypes = defaultEtypes
        if let text = value("enctypes") {
            var parsed: [Int32] = []
            for word in text.split(whereSeparator: { $0 == " " || $0 == "," }) {
                if let info = Etype.info(named: String(word)) ?? Int32(word).flatMap(Etype.info) {
                    parsed.append(info.number)
                } else {
                    problems.append("\(place): enctypes: \"\(word)\" is not one of \(Etype.all.map(\.name).joined(separator: ", "))")
                }
            }
            etypes = Array(Set(parsed)).sorted()
            if etypes.isEmpty { problems.append("\(place): enctypes is empty") }
        }
        var lifetime = LifetimePolicy.defaultLifetime
        if let text = value("key_lifetime") {
            let allowed = allowShortLifetime ? 10...LifetimePolicy.allowed.upperBound : LifetimePolicy.allowed
            if let seconds = DurationText.seconds(text), allowed.contains(seconds) {
                lifetime = seconds
            } else if allowShortLifetime {
                problems.append("\(place): key_lifetime \"\(text)\" must be a duration from 10s to 31d")
            } else {
                problems.append("\(place): key_lifetime \"\(text)\" must be a duration from 7d to 31d (shorter only with [kxoverd] allow_short_key_lifetime, for tests)")
            }
        }
        var replicaWait = 3.0
        if let text = value("replica_wait") {
            if let seconds = DurationText.seconds(text), (1...5).contains(seconds) { replicaWait = Double(seconds) }
            else { problems.append("\(place): replica_wait \"\(text)\" must be a duration from 1s to 5s (the peer waits at most 10 s for KX-REP)") }
        }
        var maxPeerRealms = PeerRealmCap.defaultMaximum
        if let text = value("max_peer_realms") {
            if let number = Int(text), (1...1_000_000).contains(number) { maxPeerRealms = number }
            else { problems.append("\(place): max_peer_realms \"\(text)\" must be a number from 1 to 1000000") }
        }
        if value("replica_kdc_profile") != nil, mode != .remote {
            problems.append("\(place): replica_kdc_profile needs kadm5_mode = remote (keys go to the primary through kadmind)")
        }
        let peers = peerPolicy(place: place, values: { profile.values(["realms", name, $0]) }, problems: &problems)
        guard problems.isEmpty, let mode else { throw ConfigurationError(path: profile.path, problems: problems) }
        var kadmin = KadminConfiguration(realm: name, mode: mode, profileFiles: profileFiles,
                                         adminServer: value("admin_server"), adminPrincipal: value("admin_principal"),
                                         keytab: value("admin_keytab"), policy: value("kadm5_policy") ?? KadminConfiguration.defaultPolicy)
        kadmin.maxPeerRealms = maxPeerRealms
        var replica: KadminConfiguration?
        if let replicaProfile = value("replica_kdc_profile") {
            replica = KadminConfiguration(realm: name, mode: .local, profileFiles: [replicaProfile, value("krb5_config") ?? "/etc/krb5.conf"],
                                          policy: kadmin.policy)
            replica?.readOnly = true
        }
        var realm = Realm(name: name, kdcHost: value("kdc_host"), certificate: value("certificate"), privateKey: value("private_key"),
                          backendKDC: value("backend_kdc"), kadmin: kadmin, etypes: etypes, keyLifetime: lifetime,
                          replica: replica, replicaWait: replicaWait)
        realm.peers = peers
        realm.peerTrustAnchors = value("peer_trust_anchors")
        return realm
    }

    /// `peers_allowed` and `peers_denied` (each repeatable, patterns separated
    /// by spaces or commas), `incoming`, `outgoing` and `reciprocal` (true or false).
    static func peerPolicy(place: String, values: (String) -> [String], problems: inout [String]) -> PeerPolicy {
        func patterns(_ key: String) -> [RealmPattern]? {
            let lines = values(key)
            guard !lines.isEmpty else { return nil }
            var parsed: [RealmPattern] = []
            for word in lines.flatMap({ $0.split(whereSeparator: { $0 == " " || $0 == "," }) }) {
                if let pattern = RealmPattern(String(word)) { parsed.append(pattern) }
                else { problems.append("\(place): \(key): \"\(word)\" is not a realm name, *.ZONE or *") }
            }
            if parsed.isEmpty { problems.append("\(place): \(key) names no realm (leave the line out for the default)") }
            return parsed
        }
        func direction(_ key: String, default value: Bool = true) -> Bool {
            guard let text = values(key).last else { return value }
            guard let on = boolean(text) else {
                problems.append("\(place): \(key) must be true or false, not \"\(text)\"")
                return value
            }
            return on
        }
        return PeerPolicy(allowed: patterns("peers_allowed"), denied: patterns("peers_denied") ?? [],
                          incoming: direction("incoming"), outgoing: direction("outgoing"),
                          reciprocal: direction("reciprocal", default: false))
    }

    /// The realm `name`, or a clear error listing the configured ones.
    public func realm(_ name: String) throws -> Realm {
        guard let realm = realms[name] else {
            throw ConfigurationError(path: path, problems: ["realm \(name) is not configured (configured: \(realms.keys.sorted().joined(separator: ", ")))"])
        }
        return realm
    }
}

/// Durations as krb5 writes them: `14d`, `10h`, `30m`, `45s`, or plain seconds.
public enum DurationText {
    public static func seconds(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["d": 86_400, "h": 3_600, "m": 60, "s": 1]
        var total: Int64 = 0
        var number = ""
        let text = text.filter { $0 != " " }
        for c in text {
            if c.isNumber { number.append(c); continue }
            guard let unit = units[c], let n = Int64(number) else { return nil }
            total += n * unit
            number = ""
        }
        if !number.isEmpty {
            guard let n = Int64(number) else { return nil }
            total += n
        }
        return text.isEmpty ? nil : total
    }
}
