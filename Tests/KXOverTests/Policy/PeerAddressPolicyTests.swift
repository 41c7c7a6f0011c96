import KXOver
import Testing

/// Where the client side may connect: special address classes only when
/// configured (issue 19, item 5).
@Suite("peer address policy")
struct PeerAddressPolicyTests {
    typealias K = PeerAddressPolicy.AddressClass

    func kind(_ text: String) -> K?? {
        PeerAddressPolicy.bytes(of: text).map(PeerAddressPolicy.classify)
    }

    @Test(arguments: [
        ("127.0.0.1", K.loopback), ("127.255.1.2", .loopback), ("::1", .loopback), ("::ffff:127.0.0.1", .loopback),
        ("10.0.0.1", .private), ("172.16.0.1", .private), ("172.31.255.255", .private), ("192.168.1.1", .private),
        ("100.64.0.1", .private), ("fc00::1", .private), ("fd12:3456::1", .private),
        ("169.254.1.1", .linkLocal), ("fe80::1", .linkLocal), ("febf::1", .linkLocal),
        ("224.0.0.1", .multicast), ("239.255.255.250", .multicast), ("ff02::1", .multicast),
        ("0.0.0.0", .unspecified), ("0.1.2.3", .unspecified), ("::", .unspecified), ("::ffff:0.0.0.0", .unspecified),
        ("169.254.169.254", .metadata), ("fd00:ec2::254", .metadata), ("::ffff:169.254.169.254", .metadata),
        ("240.0.0.1", .reserved), ("255.255.255.255", .reserved),
    ])
    func specialAddresses(_ text: String, _ expected: K) {
        #expect(kind(text) == .some(expected), "\(text)")
    }

    @Test(arguments: ["8.8.8.8", "192.0.2.1", "172.15.255.255", "172.32.0.1", "100.128.0.1", "169.253.1.1",
                      "2001:db8::1", "2a00:1450:4001:80b::200e", "fec0::1", "::ffff:8.8.8.8", "1.2.3.4"])
    func publicAddresses(_ text: String) {
        #expect(kind(text) == .some(nil), "\(text)")
        #expect(PeerAddressPolicy().refusal(text) == nil)
    }

    @Test func parsing() {
        #expect(PeerAddressPolicy.bytes(of: "1:2:3:4:5:6:7:8") == [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8])
        #expect(PeerAddressPolicy.bytes(of: "2001:db8::") == [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 12))
        #expect(PeerAddressPolicy.bytes(of: "::ffff:1.2.3.4") == Array(repeating: 0, count: 10) + [0xFF, 0xFF, 1, 2, 3, 4])
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "a.b.c.d", ":::", "1::2::3", "1:2:3:4:5:6:7",
                    "1:2:3:4:5:6:7:8:9", "12345::", "g::1", "1:2:3:4:5:6:7::8", "::1.2.3", "kdc.example.org", "١.2.3.4"] {
            #expect(PeerAddressPolicy.bytes(of: bad) == nil, "\(bad)")
        }
    }

    @Test func onlyTheNamedClassesAreAllowed() {
        let none = PeerAddressPolicy()
        #expect(none.refusal("127.0.0.1") == "127.0.0.1 is a loopback address (peer_address_allow does not name loopback)")
        #expect(none.refusal("kdc.example.org") == "kdc.example.org is not an IP address")
        let loopback = PeerAddressPolicy(allowed: [.loopback])
        #expect(loopback.refusal("127.0.0.1") == nil && loopback.refusal("::1") == nil)
        #expect(loopback.refusal("10.0.0.1") != nil && loopback.refusal("169.254.169.254") != nil)
        // Allowing link-local does not allow the metadata service.
        let linkLocal = PeerAddressPolicy(allowed: [.linkLocal])
        #expect(linkLocal.refusal("169.254.1.1") == nil && linkLocal.refusal("169.254.169.254") != nil)
        let all = PeerAddressPolicy(allowed: Set(K.allCases))
        for text in ["127.0.0.1", "10.0.0.1", "fe80::1", "ff02::1", "::", "169.254.169.254", "255.255.255.255"] {
            #expect(all.refusal(text) == nil, "\(text)")
        }
    }
}
