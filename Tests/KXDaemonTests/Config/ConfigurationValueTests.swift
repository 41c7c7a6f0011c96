import Foundation
@testable import KXDaemon
import KXOver
import Testing

/// Each value kxoverd refuses is refused with the one line that says why,
/// and nothing half-valid is returned.
@Suite("configuration: refused values")
struct ConfigurationValueTests {
    /// A file with `kxoverd` lines in [kxoverd] and `realm` lines in EXAMPLE.ORG's section.
    static func load(kxoverd: String = "", realm: String = "", realmName: String = "EXAMPLE.ORG") throws -> Configuration {
        let path = NSTemporaryDirectory() + "kxover-values-\(UUID().uuidString).conf"
        try "[kxoverd]\n\(kxoverd)\n[realms]\n    \(realmName) = {\n        kdc_host = kdc.example.org\n\(realm)\n    }\n"
            .write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        return try Configuration.load(path: path)
    }

    /// The problems `load` throws, without the FILE:LINE: prefix.
    static func problems(kxoverd: String = "", realm: String = "", realmName: String = "EXAMPLE.ORG") -> [String] {
        do {
            _ = try load(kxoverd: kxoverd, realm: realm, realmName: realmName)
            return []
        } catch let error as ConfigurationError {
            return error.problems
        } catch {
            return ["\(error)"]
        }
    }

    /// peer_address_allow: classes by name, repeatable; none by default.
    @Test func peerAddressClasses() throws {
        #expect(try Self.load().peerAddressAllow.isEmpty)
        let some = try Self.load(kxoverd: "    peer_address_allow = loopback private\n    peer_address_allow = link-local")
        #expect(some.peerAddressAllow == [.loopback, .private, .linkLocal])
    }

    @Test(arguments: [
        ("    max_exchanges_in_flight = 0", "[kxoverd] max_exchanges_in_flight \"0\" must be a number from 1 to 100000"),
        ("    max_exchanges_per_minute = many", "[kxoverd] max_exchanges_per_minute \"many\" must be a number from 1 to 1000000"),
        ("    drain_timeout = 3m", "[kxoverd] drain_timeout \"3m\" must be a duration of at most 2m"),
        ("    key_check_interval = 0s", "[kxoverd] key_check_interval \"0s\" must be a duration from 1s to 1h"),
        ("    hostrealm_cache_ttl = 2h", "[kxoverd] hostrealm_cache_ttl \"2h\" must be a duration of at most 1h"),
        ("    hostrealm_negative_ttl = 6m", "[kxoverd] hostrealm_negative_ttl \"6m\" must be a duration of at most 5m"),
        ("    peer_address_allow = loopback lan", "[kxoverd] peer_address_allow \"lan\" is not an address class (loopback, private, link-local, multicast, unspecified, metadata, reserved)"),
        ("    dns_timeout = 61", "[kxoverd] dns_timeout \"61\" must be seconds between 0 and 60"),
        ("    dns_stub = test.", "[kxoverd] dns_stub \"test.\" must be \"ZONE ADDRESS[@PORT]\""),
        ("    dns_option = harden-glue", "[kxoverd] dns_option \"harden-glue\" must be \"name: value\""),
    ])
    func daemonValuesOutOfRange(_ line: String, _ problem: String) {
        #expect(Self.problems(kxoverd: line) == [problem])
    }

    @Test(arguments: [
        ("        kadm5_mode = sideways", "[realms] EXAMPLE.ORG: kadm5_mode must be local or remote, not \"sideways\""),
        ("        key_lifetime = 1d", "[realms] EXAMPLE.ORG: key_lifetime \"1d\" must be a duration from 7d to 31d (shorter only with"),
        ("        key_lifetime = 32d", "[realms] EXAMPLE.ORG: key_lifetime \"32d\" must be a duration from 7d to 31d"),
        ("        replica_wait = 9s", "[realms] EXAMPLE.ORG: replica_wait \"9s\" must be a duration from 1s to 5s"),
        ("        replica_kdc_profile = /etc/krb5kdc/kdc.conf", "[realms] EXAMPLE.ORG: replica_kdc_profile needs kadm5_mode = remote"),
        ("        max_peer_realms = 0", "[realms] EXAMPLE.ORG: max_peer_realms \"0\" must be a number from 1 to 1000000"),
        ("        max_peer_realms = many", "[realms] EXAMPLE.ORG: max_peer_realms \"many\" must be a number from 1 to 1000000"),
    ])
    func realmValuesRefused(_ line: String, _ start: String) {
        let problems = Self.problems(realm: line)
        #expect(problems.count == 1 && problems[0].hasPrefix(start), "\(problems)")
    }

    /// The keeper (or the in-process store) enforces the cap the realm's kadm5 settings carry.
    @Test func maxPeerRealmsReachesTheKeyStore() throws {
        #expect(try Self.load(realm: "").realms["EXAMPLE.ORG"]?.kadmin.maxPeerRealms == PeerRealmCap.defaultMaximum)
        #expect(try Self.load(realm: "        max_peer_realms = 25").realms["EXAMPLE.ORG"]?.kadmin.maxPeerRealms == 25)
    }

    @Test func privsepAndItsAccount() throws {
        let plain = try Self.load(realm: "")
        #expect(plain.privsep && plain.kxoverUser == "kxover")
        let configured = try Self.load(kxoverd: "    privsep = false\n    kxover_user = nobody", realm: "")
        #expect(!configured.privsep && configured.kxoverUser == "nobody")
        #expect(Self.problems(kxoverd: "    privsep = maybe", realm: "") == ["[kxoverd] privsep \"maybe\" must be true or false"])
    }

    @Test func shortKeyLifetimesOnlyForTests() throws {
        #expect(try Self.load(kxoverd: "    allow_short_key_lifetime = true", realm: "        key_lifetime = 30s").realms["EXAMPLE.ORG"]?.keyLifetime == 30)
        #expect(Self.problems(kxoverd: "    allow_short_key_lifetime = true", realm: "        key_lifetime = 5s")
                == ["[realms] EXAMPLE.ORG: key_lifetime \"5s\" must be a duration from 10s to 31d"])
    }

    @Test func remoteModeNeedsItsServerAndKeytab() {
        #expect(Self.problems(realm: "        kadm5_mode = remote") == [
            "[realms] EXAMPLE.ORG: kadm5_mode = remote needs admin_server",
            "[realms] EXAMPLE.ORG: kadm5_mode = remote needs admin_keytab",
        ])
    }

    @Test func unknownEnctypesLeaveNoneToOffer() {
        let problems = Self.problems(realm: "        enctypes = des-cbc-crc")
        #expect(problems.count == 2 && problems[0].hasPrefix("[realms] EXAMPLE.ORG: enctypes: \"des-cbc-crc\" is not one of aes128-cts-hmac-sha1-96, "), "\(problems)")
        #expect(problems.last == "[realms] EXAMPLE.ORG: enctypes is empty")
    }

    @Test func realmNamesAreUpperCaseDNSNames() {
        #expect(Self.problems(realmName: "example.org") == ["[realms] example.org: \"example.org\" is not an upper-case DNS-style realm name"])
    }

    @Test func everyProblemOfEveryRealmIsReportedTogether() {
        let problems = Self.problems(kxoverd: "    dns_timeout = 0", realm: "        kadm5_mode = sideways\n        key_lifetime = 1y")
        #expect(problems.count == 3, "\(problems)")
    }

    @Test func aFileWithoutRealmsOrThatCannotBeReadIsRefused() throws {
        let path = NSTemporaryDirectory() + "kxover-values-\(UUID().uuidString).conf"
        try "[kxoverd]\n    listen = 0.0.0.0:88\n".write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        #expect(throws: ConfigurationError.self) { try Configuration.load(path: path) }
        #expect((try? Configuration.load(path: path, requireRealms: false)) != nil, "kxover's tools may read a file without realms")
        do {
            _ = try Configuration.load(path: path + ".missing")
            Issue.record("a missing file loaded")
        } catch let error as ConfigurationError {
            #expect(error.problems.count == 1 && error.description.contains(path + ".missing"), "\(error)")
        }
    }

    /// What only the daemon needs: everything missing is named at once.
    @Test func theDaemonNamesEverythingItLacks() throws {
        let configuration = try Self.load(kxoverd: "    control_socket = relative.sock\n    hostrealm_socket = /nonexistent-dir/h.sock\n    metrics_listen = nowhere",
                                          realm: "        certificate = /nonexistent-dir/kdc.crt")
        #expect(configuration.daemonProblems() == [
            "[kxoverd] listen is missing (e.g. listen = 0.0.0.0:88)",
            "[kxoverd] backend_kdc is missing (krb5kdc's own address, e.g. 127.0.0.1:8888)",
            "[kxoverd] hostrealm_socket /nonexistent-dir/h.sock must be an absolute path in an existing directory",
            "[kxoverd] control_socket relative.sock must be an absolute path in an existing directory",
            "[kxoverd] metrics_listen \"nowhere\" must be ADDRESS:PORT, e.g. 127.0.0.1:9749",
            "[realms] EXAMPLE.ORG: certificate /nonexistent-dir/kdc.crt is not readable",
            "[realms] EXAMPLE.ORG: private_key is missing",
        ])
        #expect(throws: ConfigurationError.self) { try configuration.realm("OTHER.ORG") }
    }
}
