@testable import KXDNS
import Testing

/// A forwarder or stub on loopback needs unbound's do-not-query-localhost
/// off; kxover.conf(5) promises that kxoverd sees to it (issue 13, item 6).
@Suite("resolver configuration: loopback servers")
struct ResolverConfigurationTests {
    @Test func loopbackAddressesInEveryNotation() {
        for server in ["127.0.0.1", "127.0.0.1@5353", "127.53.0.9@53", "::1", "::1@5353", "0:0:0:0:0:0:0:1@53", "::ffff:127.0.0.1"] {
            #expect(ResolverConfiguration.isLoopback(server), "\(server)")
        }
    }

    @Test func otherAddressesAreNot() {
        for server in ["192.0.2.53", "128.0.0.1@53", "::1234", "::10", "2001:db8::1", "::ffff:192.0.2.1", "localhost", ""] {
            #expect(!ResolverConfiguration.isLoopback(server), "\(server)")
        }
    }

    @Test func aStubOrAForwarderOnLoopbackTurnsTheSwitch() {
        #expect(ResolverConfiguration(forwarders: ["0:0:0:0:0:0:0:1@5353"]).usesLoopbackServers)
        #expect(ResolverConfiguration(stubs: [.init(zone: "test.", address: "127.0.0.1@5353")]).usesLoopbackServers)
        #expect(!ResolverConfiguration(forwarders: ["::1234"], stubs: [.init(zone: "test.", address: "192.0.2.1")]).usesLoopbackServers)
    }
}
