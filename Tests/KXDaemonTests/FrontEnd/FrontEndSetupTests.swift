import Foundation
import KXDaemon
import KXEventLoop
import KXOver
import Testing

/// Addresses, configuration checks and binding, without a KDC.
@Suite("KDC front end: addresses, configuration and binding")
struct FrontEndSetupTests {
    @Test func parsesNumericAddresses() throws {
        let v4 = try SocketAddress(parsing: "127.0.0.1:88")
        #expect(v4.family == .inet && v4.addressBytes == [127, 0, 0, 1] && v4.port == 88)
        #expect(v4.description == "127.0.0.1:88")
        let v6 = try SocketAddress(parsing: "[::1]:750")
        #expect(v6.family == .inet6 && v6.addressBytes == [UInt8](repeating: 0, count: 15) + [1] && v6.port == 750)
        #expect(v6.description == "[::1]:750")
        #expect(try SocketAddress(parsing: "10.1.2.3", defaultPort: 88).port == 88)
        #expect(try SocketAddress(parsing: "[2001:db8::5]", defaultPort: 88).description == "[2001:db8::5]:88")
        let scoped = try SocketAddress(parsing: "[fe80::1%1]:88")
        #expect(scoped.scopeID == 1 && scoped.description == "[fe80::1%1]:88")
        #expect(try SocketAddress(parsing: "[::1]:88") == SocketAddress(parsing: "[0:0::1]:88"))
    }

    @Test(arguments: ["10.1.2.3", "::1:88", "kdc.example:88", "[::1]:70000", "[::1", "[::1]88", "1.2.3.4:x", "", "[fe80::1%nosuchif]:88", "1.2.3:88"])
    func refusesWhatIsNotANumericAddressWithPort(_ text: String) {
        #expect(throws: SocketError.self) { try SocketAddress(parsing: text) }
    }

    @Test func refusesBadConfigurations() throws {
        let loop = try EventLoop()
        let backend = try SocketAddress(parsing: "127.0.0.1:9")
        let listen = [try SocketAddress(parsing: "127.0.0.1:0")]
        func make(realm: String = "FRONT.TEST", listen: [SocketAddress] = listen, _ change: (inout FrontEndConfiguration.Limits) -> Void = { _ in }) throws {
            var limits = FrontEndConfiguration.Limits()
            change(&limits)
            _ = try KDCFrontEnd(configuration: FrontEndConfiguration(realm: realm, listen: listen, backend: backend, limits: limits), loop: loop)
        }
        #expect(throws: Never.self) { try make() }
        #expect(throws: FrontEndError.self) { try make(listen: []) }
        #expect(throws: FrontEndError.self) { try make(realm: "not a realm") }
        #expect(throws: FrontEndError.self) { try make { $0.backendUDPWaits = [] } }
        #expect(throws: FrontEndError.self) { try make { $0.maxTCPConnections = 0 } }
        #expect(throws: FrontEndError.self) { try make { $0.holdTimeout = 0 } }
        #expect(throws: FrontEndError.self) { try make { $0.backendTCPConcurrency = 0 } }
    }

    /// A taken port fails the start with nothing left bound: here UDP is
    /// taken, so the TCP socket bound first must be released again.
    @Test func portClashFailsWithNothingLeftBound() throws {
        let loop = try EventLoop()
        // A port whose UDP side we hold and whose TCP side is free, below
        // Linux's ephemeral range so no outgoing connection takes it meanwhile.
        let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(udp) }
        var port: UInt16 = 0
        for _ in 0..<100 {
            let candidate = UInt16.random(in: 20_000..<32_768)
            let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            let address = try SocketAddress(parsing: "127.0.0.1:\(candidate)")
            let tcpFree = withFrontEndTestSockAddr(address, { bind(tcp, $0, $1) }) == 0
            close(tcp)
            if tcpFree && withFrontEndTestSockAddr(address, { bind(udp, $0, $1) }) == 0 { port = candidate; break }
        }
        try #require(port != 0)
        let taken = try SocketAddress(parsing: "127.0.0.1:\(port)")
        let frontEnd = try KDCFrontEnd(configuration: FrontEndConfiguration(realm: "FRONT.TEST", listen: [taken], backend: taken), loop: loop)
        #expect(throws: SocketError.system("bind UDP 127.0.0.1:\(port)", EADDRINUSE)) { try frontEnd.start() }
        #expect(frontEnd.boundAddresses.isEmpty)
        let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(tcp) }
        #expect(withFrontEndTestSockAddr(taken, { bind(tcp, $0, $1) }) == 0, "the TCP socket bound first was released")
    }

    /// Port 0 picks one port for UDP and TCP on every address.
    @Test func portZeroIsSharedByAllAddressesAndBothTransports() throws {
        let loop = try EventLoop()
        let backend = try SocketAddress(parsing: "127.0.0.1:9")
        let frontEnd = try KDCFrontEnd(configuration: FrontEndConfiguration(
            realm: "FRONT.TEST", listen: [try SocketAddress(parsing: "127.0.0.1:0"), try SocketAddress(parsing: "[::1]:0")], backend: backend), loop: loop)
        try frontEnd.start()
        defer { frontEnd.close() }
        let ports = frontEnd.boundAddresses.map(\.port)
        #expect(ports.count == 2 && ports[0] != 0 && ports[0] == ports[1])
        #expect(frontEndSocketCount(publicPort: ports[0], backendPort: 9) == 4)
    }
}
