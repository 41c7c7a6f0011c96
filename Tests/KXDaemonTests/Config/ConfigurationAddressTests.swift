import Foundation
@testable import KXDaemon
import Testing

/// listen and backend_kdc are checked as the start parses them, so that
/// `kxoverd -n` refuses what the start would refuse (issue 13, items 4 and 6).
@Suite("configuration: listen and backend_kdc")
struct ConfigurationAddressTests {
    func configuration(_ kxoverd: String) throws -> Configuration {
        let path = NSTemporaryDirectory() + "kxover-addresses-\(UUID().uuidString).conf"
        try "[kxoverd]\n\(kxoverd)\n[realms]\n    EXAMPLE.ORG = {\n        kdc_host = kdc.example.org\n    }\n"
            .write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        return try Configuration.load(path: path)
    }

    @Test func aHostNameOrAStrayWordInListenIsAProblem() throws {
        let problems = try configuration("    listen = kdc.example.org:88 0.0.0.0:88 stray\n    backend_kdc = 127.0.0.1:8888")
            .addressProblems()
        #expect(problems == [
            "[kxoverd] listen \"kdc.example.org:88\": 'kdc.example.org' is not a numeric IPv4 or IPv6 address",
            "[kxoverd] listen \"stray\": 'stray' is not a numeric IPv4 or IPv6 address",
        ])
    }

    @Test func numericAddressesPass() throws {
        let configuration = try configuration("    listen = 0.0.0.0:88 [::]:88 127.0.0.1\n    backend_kdc = [::1]:8888")
        #expect(configuration.addressProblems().isEmpty)
        let frontEnd = try configuration.frontEndConfiguration()
        #expect(frontEnd.listen.map(\.description) == ["0.0.0.0:88", "[::]:88", "127.0.0.1:88"])
        #expect(frontEnd.backend.description == "[::1]:8888")
    }

    /// One backend address, and why: kxoverd is krb5kdc's only client.
    @Test func backendKDCTakesOneAddress() throws {
        let two = try configuration("    listen = 0.0.0.0:88\n    backend_kdc = 127.0.0.1:8888 [::1]:8888")
        #expect(two.addressProblems() == [
            "[kxoverd] backend_kdc \"127.0.0.1:8888 [::1]:8888\" names 2 addresses; it takes one: "
                + "krb5kdc behind kxoverd serves only kxoverd, so one loopback address is enough "
                + "(the public IPv4 and IPv6 addresses go in listen)",
        ])
        #expect(two.daemonProblems().contains { $0.hasPrefix("[kxoverd] backend_kdc \"127.0.0.1:8888 [::1]:8888\" names 2") })
        #expect(throws: ConfigurationError.self) {
            try configuration("    listen = 0.0.0.0:88\n    backend_kdc = 127.0.0.1:8888\n    backend_kdc = [::1]:8888")
        }
        let host = try configuration("    listen = 0.0.0.0:88\n    backend_kdc = localhost:8888")
        #expect(host.addressProblems() == ["[kxoverd] backend_kdc \"localhost:8888\": 'localhost' is not a numeric IPv4 or IPv6 address"])
    }
}
