import Foundation
import KXTestSupport
import Testing

/// The scenario scripts, each with real everything (krb5kdc, the signed zone
/// on loopback, kxoverd, TLS 1.3 with DANE) and one PASS/FAIL line per check:
/// - scripts/e2e: the mission, the refusals, hostile peers, killed daemons, referrals;
/// - scripts/e2e-operations: status, metrics, SIGHUP under load, the SIGTERM
///   drain bound, renewal and pruning of keys that live 30 seconds;
/// - scripts/e2e-faults: SIGKILL at each key-touching stage, a locked KDB, a
///   stalled or stopped krb5kdc;
/// - scripts/multikdc: kxoverd beside a replica writing through the primary's
///   kadmind, the key carried by MIT iprop;
/// - scripts/e2e-policy: the peer policy refusing each way by each rule,
///   reloaded by SIGHUP, a key whose peer is denied later, and one hop on a
///   key kxoverd made;
/// - scripts/e2e-flood: one zone minting 183 realms against the zone budget
///   while another zone's realms cross as usual;
/// - scripts/e2e-transit: three MIT realms, kxover keys A-B and B-C: when
///   MIT lets A's users through B into C, and kxover's kdcpolicy module
///   keeping them to one hop (docs/transit.md);
/// - scripts/e2e-admin: a least-privilege kadmind ACL, a right taken away,
///   keys removed by revoke and delprinc in both kadm5 modes, 50 quick
///   start/stop cycles in each mode;
/// - scripts/e2e-ldap: an LDAP-backed realm (slapd, kldap) with a kxoverd
///   beside each of its two KDCs: first requests through either, both at
///   once for one new realm, renewal and pruning done once.
@Suite("scenario scripts")
struct ScenarioScriptTests {
    struct Scenario: Sendable, CustomTestStringConvertible {
        let script: String
        /// Lines the run must print besides "N passed, 0 failed".
        let mustPrint: [String]
        var testDescription: String { script }
    }

    static let scenarios = [
        Scenario(script: "scripts/e2e", mustPrint: ["PASS: the first kvno for a service in a realm never met succeeds"]),
        Scenario(script: "scripts/e2e-operations",
                 mustPrint: ["PASS: renewal: a new kvno appears on the client side before the first key's till"]),
        Scenario(script: "scripts/e2e-faults",
                 mustPrint: ["PASS: SIGKILL client at \"C11 key storing\": the service KDB holds the key (stored before KX-REP)"]),
        Scenario(script: "scripts/multikdc", mustPrint: ["PASS: the replica's krb5kdc serves the key", "iprop propagation: "]),
        Scenario(script: "scripts/e2e-policy",
                 mustPrint: ["PASS: deny-name: the client log has the service's refusal",
                             "PASS: denied later: kxover list marks the existing key 'denied by policy'",
                             "PASS: one hop: ...by CLIENT.TEST's KDC, which names kxover's key and the outgoing rule"]),
        Scenario(script: "scripts/e2e-flood",
                 mustPrint: ["PASS: every realm below the other zone crossed during the flood"]),
        Scenario(script: "scripts/e2e-transit",
                 mustPrint: ["PASS: hierarchical, no [capaths] anywhere: alice@A.EXAMPLE.TEST reaches",
                             "PASS: one hop, module at EXAMPLE.TEST and C.EXAMPLE.TEST: alice@A.EXAMPLE.TEST's transit is refused at EXAMPLE.TEST"]),
        Scenario(script: "scripts/e2e-admin",
                 mustPrint: ["PASS: client remote, service local: after kadmin delprinc the next user's first kvno succeeds",
                             "PASS: remote mode: 50 start/stop cycles of the service kxoverd"]),
        Scenario(script: "scripts/e2e-ldap",
                 mustPrint: ["PASS: the race happened: OTHER.TEST got two KX-REQs from LDAP.TEST at once",
                             "PASS: leases: one renewal of krbtgt/SERVICE.TEST@LDAP.TEST between the two kxoverds (1)"]),
    ]

    /// No script may hang the suite: each gets this long (its usual run
    /// takes a third of it or less on two cores), then fails with its name.
    static let timeLimit = 900

    @Test(arguments: scenarios)
    func scenario(_ scenario: Scenario) throws {
        let process = try TestProcess(["timeout", "--kill-after=20", "\(Self.timeLimit)", TestProcess.repoRoot + "/" + scenario.script])
        let status = process.waitForExit()
        let output = process.output
        #expect((status >> 8) & 0xFF != 124, "\(scenario.script) did not finish within \(Self.timeLimit) s:\n\(output)")
        #expect(process.succeeded, "\(output)")
        for line in scenario.mustPrint { #expect(output.contains(line), "\(output)") }
        #expect(output.contains(" passed, 0 failed"), "\(output)")
        #expect(!output.contains("FAIL:"), "\(output)")
    }
}
