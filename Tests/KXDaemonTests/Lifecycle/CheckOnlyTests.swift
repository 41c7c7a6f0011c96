import Foundation
import KXTestSupport
import Testing

/// `kxoverd -n` as an administrator runs it, the built executable against a
/// real realm: it refuses what the start would refuse (addresses, files,
/// keys, the KDB, the DNS trust anchor), one line per problem naming the file
/// and line (issue 13, item 4).
@Suite("kxoverd -n")
struct CheckOnlyTests {
    /// FRONT.TEST (a running krb5kdc and its KDB) and a KDC certificate for it.
    final class World: @unchecked Sendable {
        let realm = FrontEndTestRealm.shared
        let dir: String

        static let shared = try! World()

        private init() throws {
            dir = realm.dir + "/check-only"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try TestProcess.run(["scripts/kdccert", dir, "kdc", "--host", "kdc.front.test", "--realm", realm.realm])
            // scripts/realm init made kxover/admin, with the kadm5.acl rights kxover needs.
            try TestProcess.run(["scripts/realm", "kadmin", realm.dir, realm.realm, "ktadd", "-norandkey", "-k", adminKeytab, "kxover/admin"])
        }

        var adminKeytab: String { dir + "/admin.keytab" }

        var kdcProfile: String { "\(realm.dir)/\(realm.realm)/kdc.conf" }

        /// FRONT.TEST's kdc.conf plus the [plugins] lines that load kxover's kdcpolicy module.
        func profileLoadingKDCPolicy() throws -> String {
            let path = dir + "/kdc-with-kdcpolicy-\(UUID().uuidString.prefix(8)).conf"   // one per test: they run at once
            let text = try String(contentsOfFile: kdcProfile, encoding: .utf8)
                + "\n[plugins]\n    kdcpolicy = {\n        module = kxover:/usr/lib/kxover/libkxover-kdcpolicy.so\n    }\n"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
    }

    static let trustAnchor = "test. IN DS 19699 13 2 " + String(repeating: "5a", count: 32)

    /// A configuration that passes; `replacing` swaps whole lines of it.
    func configuration(replacing changes: [String: String] = [:], adding extra: String = "") -> String {
        let world = World.shared
        let lines = [
            "[kxoverd]",
            "    listen = 127.0.0.1:0",
            "    backend_kdc = 127.0.0.1:\(world.realm.kdcPort)",
            "    dns_trust_anchor = \(Self.trustAnchor)",
            // The engine's account (privsep, the default): one every test machine has.
            "    kxover_user = nobody",
            "[realms]",
            "    \(world.realm.realm) = {",
            "        kdc_host = kdc.front.test",
            "        certificate = \(world.dir)/kdc.crt",
            "        private_key = \(world.dir)/kdc.key",
            "        kadm5_mode = local",
            "        kdc_profile = \(world.kdcProfile)",
            "        krb5_config = \(world.realm.dir)/krb5.conf",
            extra,
            "    }",
        ]
        return lines.map { line in
            let name = line.split(separator: "=").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            return changes[name] ?? line
        }.joined(separator: "\n") + "\n"
    }

    /// Runs `kxoverd -n` on `text`; its exit code and its lines, the file's
    /// path shortened to "kxover.conf".
    func check(_ text: String) throws -> (code: Int32?, lines: [String]) {
        let path = "\(World.shared.dir)/kxover-\(UUID().uuidString.prefix(8)).conf"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        let process = try TestProcess([TestProcess.builtExecutable("kxoverd"), "-n", "-c", path])
        process.waitForExit()
        let output = process.output.replacingOccurrences(of: path, with: "kxover.conf")
        return (process.exitCode, output.split(separator: "\n").map(String.init))
    }

    @Test func aConfigurationTheStartAcceptsPasses() throws {
        let result = try check(configuration(replacing: ["kdc_profile": "        kdc_profile = \(try World.shared.profileLoadingKDCPolicy())"]))
        #expect(result.code == 0, "\(result.lines)")
        #expect(result.lines == ["kxoverd: kxover.conf is valid: realms FRONT.TEST"])
    }

    /// A module line that MIT's own [plugins] rules switch off does not count.
    @Test func aDisabledKDCPolicyModuleIsStillAWarning() throws {
        let world = World.shared
        let path = try world.profileLoadingKDCPolicy()
        let text = try String(contentsOfFile: path, encoding: .utf8)
            .replacingOccurrences(of: "    kdcpolicy = {\n", with: "    kdcpolicy = {\n        disable = kxover\n")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try check(configuration(replacing: ["kdc_profile": "        kdc_profile = \(path)"]))
        #expect(result.code == 0, "\(result.lines)")
        #expect(result.lines.first?.contains("one hop is not enforced") == true, "\(result.lines)")
    }

    /// One hop needs kxover's kdcpolicy module in krb5kdc (docs/transit.md):
    /// a KDC profile that does not load it is worth a warning, not a refusal.
    @Test func aKDCWithoutTheKDCPolicyModuleIsAWarning() throws {
        let result = try check(configuration())
        #expect(result.code == 0, "\(result.lines)")
        #expect(result.lines == [
            "kxoverd: warning: [realms] FRONT.TEST: one hop is not enforced: \(World.shared.kdcProfile) loads no kxover "
                + "kdcpolicy module ([plugins] kdcpolicy = { module = kxover:PATH }, docs/transit.md)",
            "kxoverd: kxover.conf is valid: realms FRONT.TEST",
        ])
    }

    /// The start refused these with "'kdc.example.org' is not a numeric
    /// IPv4 or IPv6 address"; -n said the file was valid.
    @Test func listenTakesNumericAddressesOnly() throws {
        let result = try check(configuration(replacing: ["listen": "    listen = kdc.example.org:88 127.0.0.1:0 stray"]))
        #expect(result.code == 1)
        #expect(result.lines == [
            "kxover.conf:2: [kxoverd] listen \"kdc.example.org:88\": 'kdc.example.org' is not a numeric IPv4 or IPv6 address",
            "kxover.conf:2: [kxoverd] listen \"stray\": 'stray' is not a numeric IPv4 or IPv6 address",
        ])
    }

    @Test func aListenAddressThisHostLacksIsRefused() throws {
        let result = try check(configuration(replacing: ["listen": "    listen = 192.0.2.1:0"]))
        #expect(result.code == 1)
        #expect(result.lines == ["kxover.conf:2: [kxoverd] listen \"192.0.2.1:0\": bind UDP 192.0.2.1:0: Cannot assign requested address"])
    }

    /// The engine must run as an account that exists and is not root.
    @Test func anEngineAccountThatCannotServeIsRefused() throws {
        let missing = try check(configuration(replacing: ["kxover_user": "    kxover_user = no-such-kxover-account"]))
        #expect(missing.code == 1)
        #expect(missing.lines.count == 1 && missing.lines[0].contains("kxover_user no-such-kxover-account does not exist"), "\(missing.lines)")
        let root = try check(configuration(replacing: ["kxover_user": "    kxover_user = root"]))
        #expect(root.code == 1)
        #expect(root.lines.count == 1 && root.lines[0].contains("kxover_user root is root"), "\(root.lines)")
        // privsep = false (development only) needs no account.
        let plain = try check(configuration(replacing: ["kxover_user": "    privsep = false"]))
        #expect(plain.code == 0, "\(plain.lines)")
    }

    @Test func aMisspelledRelationIsNamedWithItsLine() throws {
        let result = try check(configuration(replacing: ["dns_trust_anchor": "    dns_trust_anchr = \(Self.trustAnchor)"]))
        #expect(result.code == 1)
        #expect(result.lines == ["kxover.conf:4: unknown relation 'dns_trust_anchr' in [kxoverd]; did you mean 'dns_trust_anchor'?"])
    }

    /// Readable is not enough: the start loads the certificate and key.
    @Test func aCertificateThatDoesNotLoadIsRefused() throws {
        let result = try check(configuration(replacing: ["certificate": "        certificate = \(World.shared.kdcProfile)"]))
        #expect(result.code == 1)
        #expect(result.lines.count == 1)
        #expect(result.lines.first?.hasPrefix("kxover.conf:9: [realms] FRONT.TEST: certificate and private_key do not load: ") == true,
                "\(result.lines)")
    }

    @Test func aTrustAnchorTheResolverCannotLoadIsRefused() throws {
        let result = try check(configuration(replacing: ["dns_trust_anchor": "    dns_trust_anchor_file = \(World.shared.dir)/missing.key"]))
        #expect(result.code == 1)
        #expect(result.lines == ["kxover.conf:1: [kxoverd] dns_*: the resolver does not start: resolver error: "
            + "trust anchor file \(World.shared.dir)/missing.key is not readable"])
    }

    /// Local mode: the KDB opens with the kdc.conf's database and stash.
    @Test func aKDBThatDoesNotOpenIsRefused() throws {
        let world = World.shared
        let profile = "\(world.dir)/kdc-without-stash.conf"
        let text = try String(contentsOfFile: world.kdcProfile, encoding: .utf8)
        let stash = try #require(text.split(separator: "\n").first { $0.contains("key_stash_file") })
        try text.replacingOccurrences(of: String(stash), with: "        key_stash_file = \(world.dir)/missing.stash")
            .write(toFile: profile, atomically: true, encoding: .utf8)
        let result = try check(configuration(replacing: ["kdc_profile": "        kdc_profile = \(profile)"]))
        #expect(result.code == 1)
        #expect(result.lines.count == 1)
        #expect(result.lines.first?.hasPrefix("kxover.conf:7: [realms] FRONT.TEST: cannot open the KDB (local mode): ") == true,
                "\(result.lines)")
    }

    @Test func remoteModeNeedsAReadableKeytabAndKadmind() throws {
        let world = World.shared
        // Nothing listens on port 1; FRONT.TEST runs no kadmind.
        let remote = ["kadm5_mode": "        kadm5_mode = remote", "kdc_profile": "        admin_server = 127.0.0.1:1"]
        let missing = try check(configuration(replacing: remote, adding: "        admin_keytab = \(world.dir)/missing.keytab"))
        #expect(missing.code == 1)
        #expect(missing.lines == ["kxover.conf:14: [realms] FRONT.TEST: admin_keytab \(world.dir)/missing.keytab is not readable"])
        let unreachable = try check(configuration(replacing: remote, adding: "        admin_keytab = \(world.adminKeytab)"))
        #expect(unreachable.code == 1)
        #expect(unreachable.lines.count == 1)
        #expect(unreachable.lines.first?.hasPrefix("kxover.conf:7: [realms] FRONT.TEST: cannot open the KDB (remote mode): ") == true,
                "\(unreachable.lines)")
        #expect(unreachable.lines.first?.contains("Communication failure with server") == true, "\(unreachable.lines)")   // MIT's words
    }

    /// A socket path holding another kind of file, and a metrics address
    /// this host lacks, fail the start; a live socket would not fail -n (it
    /// may be the running kxoverd's).
    @Test func socketPathsAndTheMetricsAddressAreCheckedAsTheStartChecksThem() throws {
        let world = World.shared
        let anchor = "    dns_trust_anchor = \(Self.trustAnchor)"
        let result = try check(configuration(replacing: ["dns_trust_anchor": anchor + """

                hostrealm_socket = \(world.kdcProfile)
                control_socket = \(world.dir)/control.sock
                metrics_listen = 192.0.2.1:9749
            """]))
        #expect(result.code == 1)
        #expect(result.lines == [
            "kxover.conf:7: [kxoverd] metrics_listen \"192.0.2.1:9749\": bind UDP 192.0.2.1:9749: Cannot assign requested address",
            "kxover.conf:5: [kxoverd] hostrealm_socket \(world.kdcProfile) exists and is not a socket",
        ])
    }

    @Test func everyProblemIsALineOfItsOwn() throws {
        let result = try check(configuration(replacing: [
            "backend_kdc": "    backend_kdc = 127.0.0.1:88 [::1]:88",
            "kdc_host": "",
        ]))
        #expect(result.code == 1)
        #expect(result.lines == [
            "kxover.conf:3: [kxoverd] backend_kdc \"127.0.0.1:88 [::1]:88\" names 2 addresses; it takes one: "
                + "krb5kdc behind kxoverd serves only kxoverd, so one loopback address is enough (the public IPv4 and IPv6 addresses go in listen)",
            "kxover.conf:7: [realms] FRONT.TEST: kdc_host is missing",
        ])
    }
}
