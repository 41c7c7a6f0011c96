import Foundation
@testable import KXDaemon
import Testing

/// kxover.conf holds only what kxover reads: a misspelled or misplaced
/// relation or section is an error on its own line, naming the file, the
/// line and the nearest known name (issue 13, item 4).
@Suite("configuration: unknown and misplaced relations")
struct RelationCheckTests {
    /// Loads `text` from a file of its own; returns the error's lines with
    /// the file's path shortened to "kxover.conf", or [] when it loaded.
    func problems(_ text: String) throws -> [String] {
        let path = NSTemporaryDirectory() + "kxover-relations-\(UUID().uuidString).conf"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        do {
            _ = try Configuration.load(path: path)
            return []
        } catch let error as ConfigurationError {
            return error.lines.map { $0.replacingOccurrences(of: path, with: "kxover.conf") }
        }
    }

    static let realm = """
        [realms]
            EXAMPLE.ORG = {
                kdc_host = kdc.example.org
            }
        """

    /// known_key_ttl went with the known-key cache: an old file says what to do.
    @Test func aRemovedRelationSaysWhatReplacedIt() throws {
        let lines = try problems("""
            [kxoverd]
                known_key_ttl = 60s
            \(Self.realm)
            """)
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("kxover.conf:2: [kxoverd] known_key_ttl is no longer used: kxoverd no longer caches") == true, "\(lines)")
    }

    @Test func aMisspelledRelationNamesTheNearestKnownOne() throws {
        let lines = try problems("""
            [kxoverd]
                listen = 0.0.0.0:88
                dns_forwarder = 127.0.0.1
            \(Self.realm)
            """)
        #expect(lines == ["kxover.conf:3: unknown relation 'dns_forwarder' in [kxoverd]; did you mean 'dns_forward'?"])
    }

    @Test func aMisspelledRelationInARealm() throws {
        let lines = try problems("""
            [kxoverd]
                listen = 0.0.0.0:88
            [realms]
                EXAMPLE.ORG = {
                    kdc_host = kdc.example.org
                    certificat = /etc/kxover/kdc.crt
                }
            """)
        #expect(lines == ["kxover.conf:6: unknown relation 'certificat' in [realms] EXAMPLE.ORG; did you mean 'certificate'?"])
    }

    @Test func anUnknownSectionNamesTheNearestKnownOne() throws {
        let lines = try problems("""
            [kxover]
                listen = 0.0.0.0:88
            \(Self.realm)
            """)
        #expect(lines == ["kxover.conf:1: unknown section [kxover]; did you mean [kxoverd]?"])
    }

    @Test func relationsInTheWrongPlaceAreSentWhereTheyBelong() throws {
        let lines = try problems("""
            [kxoverd]
                kdc_host = kdc.example.org
            [realms]
                key_lifetime = 14d
                EXAMPLE.ORG = {
                    kdc_host = kdc.example.org
                    listen = 0.0.0.0:88
                    kdc_hosts = {
                        a = b
                    }
                }
            """)
        #expect(lines == [
            "kxover.conf:2: relation 'kdc_host' belongs in a realm's subsection of [realms], not in [kxoverd]",
            "kxover.conf:4: [realms] holds one subsection per realm (REALM = { ... }), not the relation 'key_lifetime'",
            "kxover.conf:7: relation 'listen' belongs in [kxoverd], not in [realms] EXAMPLE.ORG",
            "kxover.conf:8: unknown subsection 'kdc_hosts' in [realms] EXAMPLE.ORG; did you mean the relation 'kdc_host'?",
        ])
    }

    /// The profile library keeps the first of two values without a word.
    @Test func aOneValueRelationGivenTwiceIsAnError() throws {
        let lines = try problems("""
            [kxoverd]
                listen = 0.0.0.0:88
                listen = [::]:88
                tls_pool = embedded
                tls_pool = /run/kxover/tlspool.sock
            \(Self.realm)
            """)
        #expect(lines == ["kxover.conf:5: [kxoverd] tls_pool is given 2 times (first on line 4); it takes one value"])
    }

    @Test func everyProblemHasALineOfItsOwnWithTheOthers() throws {
        let lines = try problems("""
            [kxoverd]
                dns_timout = 5
                dns_timeout = 99
            [realms]
                EXAMPLE.ORG = {
                    key_lifetime = 1d
                }
            """)
        #expect(lines.count == 3)
        #expect(lines[0] == "kxover.conf:2: unknown relation 'dns_timout' in [kxoverd]; did you mean 'dns_timeout'?")
        #expect(lines.contains { $0.hasPrefix("kxover.conf:3: [kxoverd] dns_timeout \"99\"") })
        #expect(lines.contains { $0.hasPrefix("kxover.conf:6: [realms] EXAMPLE.ORG: key_lifetime \"1d\"") })
    }

    @Test func everyKnownRelationLoads() throws {
        #expect(try problems("[kxoverd]\n" + KnownRelations.daemon.map { "    \($0.name) = 1\n" }.joined() + Self.realm)
            .allSatisfy { !$0.contains("unknown") && !$0.contains("belongs") })
        let realm = KnownRelations.realm.map { "        \($0.name) = 1\n" }.joined()
        #expect(try problems("[kxoverd]\n    listen = 0.0.0.0:88\n[realms]\n    EXAMPLE.ORG = {\n\(realm)    }\n")
            .allSatisfy { !$0.contains("unknown") && !$0.contains("belongs") })
    }

    @Test func nearestNames() {
        #expect(NearestName.of("dns_forwarder", among: KnownRelations.daemon.map(\.name)) == "dns_forward")
        #expect(NearestName.of("Listen", among: KnownRelations.daemon.map(\.name)) == "listen")
        #expect(NearestName.of("pid_flie", among: KnownRelations.daemon.map(\.name)) == "pid_file")
        #expect(NearestName.distance("kdc_hots", "kdc_host") == 1)
        #expect(NearestName.distance("", "abc") == 3)
        #expect(NearestName.of("x", among: []) == nil)
    }
}
