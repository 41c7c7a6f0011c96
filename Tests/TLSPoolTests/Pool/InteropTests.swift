import TLSPoolHarness
import Foundation
import KXEventLoop
import KXOver
import Testing
@testable import TLSPool

/// Our pool against GnuTLS's own command-line peers, and tlspoold as a
/// separate process.
extension TLSPoolSerialTests {
@Suite("TLS Pool interop")
struct InteropTests {
    static let label = KeySchedule.exporterLabel

    /// STARTTLS on `tcp` through `client`, run on `loop` to completion.
    func startTLS(_ client: TLSPoolClient, _ loop: EventLoop, tcp: Int32, _ parameters: StartTLSParameters,
                  handler: StartTLS.LocalIDHandler? = nil) -> Result<TLSPoolSession, TLSPoolError> {
        var result: Result<TLSPoolSession, TLSPoolError>?
        StartTLS(client: client, tcpSocket: tcp, parameters: parameters, localIDHandler: handler) { result = $0 }.start()
        loop.run(until: { result != nil }, timeout: 10)
        return result ?? .failure(TLSPoolError(code: ETIMEDOUT, message: "no result"))
    }

    func gnutlsServ(port: UInt16, certificate: String, key: String, extra: [String] = []) throws -> Spawned {
        try Spawned("/usr/bin/stdbuf", ["-oL", "/usr/bin/gnutls-serv", "-p", "\(port)", "--x509certfile", certificate,
                                        "--x509keyfile", key, "-r", "--echo",
                                        "--keymatexport=\(Self.label)", "--keymatexportsize=32"] + extra)
    }

    @Test func poolAsClientAgainstGnutlsServ() throws {
        let certs = try TestCertificates.get()
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let port = try freeLoopbackPort()
        let serv = try gnutlsServ(port: port, certificate: certs.path("kdc-b.crt"), key: certs.path("kdc-b.key"))
        defer { serv.stop() }
        let tcp = try connectLoopback(port: port)
        let session = try startTLS(pair.harness.clientSide, pair.loop, tcp: tcp, .kxoverClient(localID: "kdc.a.test", remoteID: "kdc.b.test")).get()
        defer { session.close() }
        let line = try #require(serv.waitForLine(containing: "Key material"), "gnutls-serv output: \(serv.output)")
        #expect(try pair.export(session, context: nil, length: 32) == keyMaterial(in: line), "PRNG with in2_len -1 equals --keymatexport")
        let plain = try #require(session.plaintextFD)
        #expect(write(plain, "hello\n", 6) == 6)
        #expect(readBytes(plain, count: 6) == Array("hello\n".utf8), "gnutls-serv --echo through the relay")
    }

    @Test func poolAsServerAgainstGnutlsCli() throws {
        let certs = try TestCertificates.get()
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let listener = try listenLoopback()
        defer { close(listener.fd) }
        let cli = try Spawned("/usr/bin/stdbuf", ["-oL", "/usr/bin/gnutls-cli", "-p", "\(listener.port)", "127.0.0.1",
                                                  "--sni-hostname", "kdc.b.test", "--insecure",
                                                  "--x509certfile", certs.path("kdc-a.crt"), "--x509keyfile", certs.path("kdc-a.key"),
                                                  "--keymatexport=\(Self.label)", "--keymatexportsize=32"])
        defer { cli.stop() }
        let tcp = accept(listener.fd, nil, nil)
        #expect(tcp >= 0)
        let session = try startTLS(pair.harness.serverSide, pair.loop, tcp: tcp, .kxoverServer(),
                                   handler: { proposed, _ in .accept(localID: proposed) }).get()
        defer { session.close() }
        #expect(session.localID == "kdc.b.test" && session.remoteID == "kdc.a.test")
        let line = try #require(cli.waitForLine(containing: "Key material"), "gnutls-cli output: \(cli.output)")
        #expect(try pair.export(session, context: nil, length: 32) == keyMaterial(in: line))
        #expect(try pair.checkRealm(session, .peer, "A.TEST"))
    }

    @Test func tls12OnlyPeerIsRefused() throws {
        let certs = try TestCertificates.get()
        let port = try freeLoopbackPort()
        let serv = try gnutlsServ(port: port, certificate: certs.path("kdc-b.crt"), key: certs.path("kdc-b.key"),
                                  extra: ["--priority", "NORMAL:-VERS-TLS1.3"])
        defer { serv.stop() }
        // Counted after the spawn: Foundation's Process keeps helper descriptors
        // for a few seconds after a child exits, which are not ours to judge.
        let baseline = DescriptorAudit.openCount()
        do {
            let pair = try PoolPair()
            let tcp = try connectLoopback(port: port)
            let inode = DescriptorAudit.inode(of: tcp)
            let result = startTLS(pair.harness.clientSide, pair.loop, tcp: tcp, .kxoverClient(localID: "kdc.a.test", remoteID: "kdc.b.test"))
            if case .failure(let error) = result {
                #expect(error.knownCode == .stirredNotShaken)
                #expect(error.message.contains("TLS handshake failed"), "\(error.message)")
            } else {
                Issue.record("a TLS 1.2-only peer must be refused")
            }
            #expect(DescriptorAudit.isGone(socketInode: inode))
            pair.shutdown()
        }
        #expect(DescriptorAudit.returnsTo(baseline))
    }

    // MARK: - tlspoold

    static var tlspooldPath: String? {
        let candidates = [CommandLine.arguments[0], Bundle.main.executablePath ?? ""].map {
            URL(fileURLWithPath: $0).deletingLastPathComponent().appendingPathComponent("tlspoold").path
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    func tlspoold(_ certs: TestCertificates) throws -> (Spawned, String) {
        let path = try #require(Self.tlspooldPath, "tlspoold is built next to the test runner")
        let socket = NSTemporaryDirectory() + "tlspoold-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let daemon = try Spawned(path, ["--socket", socket, "--identity", "kdc.b.test=\(certs.path("kdc-b.crt")),\(certs.path("kdc-b.key"))",
                                        "--tlsa", "kdc.a.test=\(try String(contentsOfFile: certs.path("kdc-a.tlsa-ee"), encoding: .utf8))"])
        guard daemon.waitForLine(containing: "serving") != nil else { throw TestFailure("tlspoold did not start: \(daemon.output)") }
        return (daemon, socket)
    }

    static func count(_ path: String) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: path))?.count ?? -1
    }

    @Test func tlspooldServesAHandshakeOverItsSocket() throws {
        let certs = try TestCertificates.get()
        let (daemon, socket) = try tlspoold(certs)
        defer { daemon.stop() }
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let remote = try TLSPoolClient.connect(path: socket, loop: pair.loop)
        let harness = LoopbackHandshakes(loop: pair.loop, clientSide: pair.harness.clientSide, serverSide: remote)
        let outcome = try harness.handshake(client: .kxoverClient(localID: "kdc.a.test", remoteID: "kdc.b.test"), server: .kxoverServer())
        let client = try outcome.client.get(), server = try outcome.server.get()
        #expect(server.localID == "kdc.b.test" && server.remoteID == "kdc.a.test")
        let long = [UInt8](repeating: 0x42, count: 650)
        #expect(try harness.exportedKeysAgree(client, server, label: Self.label, context: long, length: 32))
        client.close()
        server.close()
        remote.close()
    }

    /// No thread per session (issue 17): with 40 exchanges in flight through
    /// tlspoold (the server side, LOCALID checked), its thread count stays
    /// what it was idle, and it holds two descriptors per session (the TCP
    /// socket and the plaintext end); afterwards both return.
    @Test func tlspooldKeepsItsThreadsWithManyExchangesInFlight() throws {
        let certs = try TestCertificates.get()
        let (daemon, socket) = try tlspoold(certs)
        defer { daemon.stop() }
        let pid = daemon.process.processIdentifier
        let fdDir = "/proc/\(pid)/fd", taskDir = "/proc/\(pid)/task"
        let pair = try PoolPair()
        defer { pair.shutdown() }
        let remote = try TLSPoolClient.connect(path: socket, loop: pair.loop)
        defer { remote.close() }
        let harness = LoopbackHandshakes(loop: pair.loop, clientSide: pair.harness.clientSide, serverSide: remote)
        _ = try harness.runConcurrentHandshakes(count: 2, inFlight: 2, clientID: "kdc.a.test", serverID: "kdc.b.test")   // connected, PING done
        // Idle: the warm-up's sessions end after their applications closed; wait until nothing changes.
        var idleFDs = Self.count(fdDir), steady = 0
        let settling = Date().addingTimeInterval(5)
        while steady < 5 && Date() < settling {
            pair.run(until: { false }, timeout: 0.05)
            let now = Self.count(fdDir)
            steady = now == idleFDs ? steady + 1 : 0
            idleFDs = now
        }
        let idleThreads = Self.count(taskDir)

        let peaks = Mutex((threads: 0, fds: 0, samples: 0)), sampling = Mutex(true)
        let sampler = Thread {
            while sampling.withLock({ $0 }) {
                let threads = Self.count(taskDir), fds = Self.count(fdDir)
                peaks.withLock { $0 = (max($0.threads, threads), max($0.fds, fds), $0.samples + 1) }
                usleep(2_000)
            }
        }
        sampler.start()
        let inFlight = 40
        _ = try harness.runConcurrentHandshakes(count: 120, inFlight: inFlight, clientID: "kdc.a.test", serverID: "kdc.b.test")
        sampling.withLock { $0 = false }
        let peak = peaks.withLock { $0 }
        #expect(peak.samples > 10)
        #expect(peak.threads == idleThreads, "\(peak.threads) threads at the peak, \(idleThreads) idle")
        // Two per session, and one more per two in flight for sessions still winding
        // down (their applications closed) while the next ones start.
        #expect(peak.fds <= idleFDs + 2 * inFlight + inFlight / 2, "\(peak.fds) descriptors at the peak, \(idleFDs) idle")
        #expect(peak.fds > idleFDs, "the sampler saw sessions")
        let deadline = Date().addingTimeInterval(5)
        while Self.count(fdDir) > idleFDs && Date() < deadline { pair.run(until: { false }, timeout: 0.01) }
        #expect(Self.count(fdDir) <= idleFDs && Self.count(taskDir) == idleThreads)
    }

    @Test func tlspooldCleansUpAfterAClientDisconnectsMidFlow() throws {
        let certs = try TestCertificates.get()
        let (daemon, socket) = try tlspoold(certs)
        defer { daemon.stop() }
        let pid = daemon.process.processIdentifier
        let fdDir = "/proc/\(pid)/fd", taskDir = "/proc/\(pid)/task"
        let clientPool = try TLSPoolServer(configuration: TLSPoolConfiguration(
            identities: [certs.identity("kdc-a", host: "kdc.a.test")], tlsaResolver: try certs.secureResolver()))
        defer { clientPool.shutdown() }

        let app = RawClient(connection: try TLSPoolConnection.connect(path: socket))
        var ping = TLSPoolRecord(command: .ping)
        ping.ping.facilities = .startTLS
        #expect(try app.roundTrip(ping).command == .ping)
        let fdsWhileConnected = Self.count(fdDir), threadsWhileConnected = Self.count(taskDir)

        let tcp = try loopbackTCPPair()
        try app.request(.startTLS(StartTLSFlags.kxoverServer.union(.localIDCheck)), passing: tcp.server)
        let clientApp = try RawClient(clientPool)
        try clientApp.request(.startTLS(.kxoverClient, localID: "kdc.a.test", remoteID: "kdc.b.test"), passing: tcp.client)
        close(tcp.server)
        close(tcp.client)
        #expect(try app.receiveRecord().command == .startTLSLocalID)
        #expect(Self.count(fdDir) == fdsWhileConnected + 1, "the session holds its TCP socket, nothing more")
        #expect(Self.count(taskDir) == threadsWhileConnected, "no thread per session: it waits on a lane")
        app.close()   // disconnect while the pool waits in the LOCALID callback

        // Without us: the session ends, every descriptor closes.
        let deadline = Date().addingTimeInterval(5)
        while Self.count(fdDir) >= fdsWhileConnected && Date() < deadline {
            usleep(20_000)
        }
        #expect(Self.count(fdDir) == fdsWhileConnected - 1, "only our pool connection's descriptor is gone as well")
        #expect(Self.count(taskDir) == threadsWhileConnected, "the lanes stay, nothing else was started")
        clientApp.close()
    }
}
}
