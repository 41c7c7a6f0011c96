import Foundation
import KXDaemon
import KXEventLoop
import KXOver
import Testing

/// Real MIT clients and a real krb5kdc through the front end.
@Suite("KDC front end: Kerberos clients through a real krb5kdc")
struct FrontEndKerberosTests {
    @Test func kinitAndKvnoOverUDP() throws {
        let harness = try FrontEndHarness()
        let result = try harness.realm.kinitAndKvno(kdc: "127.0.0.1:\(harness.port)", tcpOnly: false, loop: harness.loop)
        #expect(result.ok, "\(result.trace)")
        #expect(result.trace.contains("dgram 127.0.0.1:\(harness.port)"))
        let counters = harness.frontEnd.counters
        // AS-REQ (refused for preauth), AS-REQ with preauth, TGS-REQ.
        #expect(counters.udpRequests >= 3)
        #expect(counters.udpReplies == counters.udpRequests)
        #expect(counters.tcpRequests == 0 && counters.relayErrors == 0)
    }

    @Test(arguments: [FrontEndConfiguration.TCPClientBackendPolicy.tcp, .udpFirst(maxUDPRequest: 1465)])
    func kinitAndKvnoOverTCP(backendPolicy: FrontEndConfiguration.TCPClientBackendPolicy) throws {
        let harness = try FrontEndHarness(tcpClientBackend: backendPolicy)
        let result = try harness.realm.kinitAndKvno(kdc: "127.0.0.1:\(harness.port)", tcpOnly: true, loop: harness.loop)
        #expect(result.ok, "\(result.trace)")
        #expect(result.trace.contains("stream 127.0.0.1:\(harness.port)"))
        let counters = harness.frontEnd.counters
        #expect(counters.tcpRequests >= 3)
        #expect(counters.tcpReplies == counters.tcpRequests)
        #expect(counters.tcpConnectionsAccepted == counters.tcpRequests)   // MIT: one request per connection
        #expect(counters.udpRequests == 0 && counters.relayErrors == 0 && counters.backendTooBigFallbacks == 0)
        #expect(harness.drive { harness.frontEnd.openTCPConnections == 0 })
    }

    /// A TCP client's request goes to krb5kdc over UDP first; when krb5kdc
    /// says the reply is too big for a datagram, it goes again over TCP.
    /// (This realm's krb5kdc sends at most 150 bytes per datagram.)
    @Test func tooBigOverUDPFallsBackToTCPForTCPClients() throws {
        let realm = try FrontEndTestRealm(kdcDefaults: ["kdc_max_dgram_reply_size = 150"])
        defer { realm.destroy() }
        let harness = try FrontEndHarness(realm: realm)
        let tcp = try FrontEndTestSocket(tcpTo: harness.address)
        tcp.send(TCPFraming.frame(realm.asRequest()))
        #expect(harness.drive { tcp.pump().firstFrame != nil })
        #expect(frontEndKRBErrorCode(tcp.firstFrame) == 25)
        #expect(harness.frontEnd.counters.backendTooBigFallbacks == 1)
        // A UDP client gets krb5kdc's answer as it is; an MIT client then
        // sends the same bytes over TCP, which must not go over UDP again.
        let udp = try FrontEndTestSocket(udpTo: harness.address)
        udp.send(realm.asRequest())
        var replies: [[UInt8]] = []
        #expect(harness.drive { replies += udp.datagrams(); return !replies.isEmpty })
        #expect(frontEndKRBErrorCode(replies.first) == 52)
        let result = try realm.kinitAndKvno(kdc: "127.0.0.1:\(harness.port)", tcpOnly: false, loop: harness.loop)
        #expect(result.ok, "\(result.trace)")
        #expect(result.trace.contains("retrying with TCP"))
        #expect(harness.frontEnd.counters.tcpRequests >= 3 && harness.frontEnd.counters.relayErrors == 0)
    }

    /// krb5kdc 1.20.1 segfaults when a request whose reply was too big for UDP
    /// comes again over UDP while the reply is in its lookaside cache (two
    /// UDP sends, or TCP then UDP). The front end answers such repeats itself.
    @Test func repeatsOfOversizedRepliesNeverReachKrb5kdcOverUDP() throws {
        let realm = try FrontEndTestRealm(kdcDefaults: ["kdc_max_dgram_reply_size = 150"])
        defer { realm.destroy() }
        var limits = FrontEndHarness.testLimits
        limits.backendMaxDatagramReply = 150
        let harness = try FrontEndHarness(realm: realm, tcpClientBackend: .tcp, limits: limits)
        let udp = try FrontEndTestSocket(udpTo: harness.address)
        var replies: [[UInt8]] = []
        // Over UDP twice.
        let twice = realm.asRequest()
        for expected in 1...2 {
            udp.send(twice)
            #expect(harness.drive { replies += udp.datagrams(); return replies.count == expected })
        }
        // Over TCP (a 229-byte KRB-ERROR 25), then over UDP.
        let tcpFirst = realm.asRequest()
        let tcp = try FrontEndTestSocket(tcpTo: harness.address)
        tcp.send(TCPFraming.frame(tcpFirst))
        #expect(harness.drive { tcp.pump().firstFrame != nil })
        #expect(frontEndKRBErrorCode(tcp.firstFrame) == 25)
        udp.send(tcpFirst)
        #expect(harness.drive { replies += udp.datagrams(); return replies.count == 3 })
        #expect(replies.map(frontEndKRBErrorCode) == [52, 52, 52])
        #expect(harness.frontEnd.counters.tooBigAnsweredLocally == 2)
        #expect(harness.frontEnd.counters.udpRequests == 1)
        var probe: Result<Void, RelayFailure>?
        harness.frontEnd.probeBackend { probe = $0 }
        #expect(harness.drive { probe != nil })
        #expect((try? probe?.get()) != nil, "krb5kdc must still be alive")
    }

    @Test func kinitAndKvnoOverIPv6BothTransports() throws {
        let harness = try FrontEndHarness(listen: ["127.0.0.1:0", "[::1]:0"])
        #expect(harness.frontEnd.boundAddresses.map(\.port) == [harness.port, harness.port])
        for tcpOnly in [false, true] {
            let result = try harness.realm.kinitAndKvno(kdc: "[::1]:\(harness.port)", tcpOnly: tcpOnly, loop: harness.loop)
            #expect(result.ok, "\(result.trace)")
        }
        #expect(harness.frontEnd.counters.udpRequests >= 3 && harness.frontEnd.counters.tcpRequests >= 3)
    }

    /// A crossover takes longer than a UDP client waits between tries: the
    /// front end absorbs the retransmissions and answers once, with the
    /// replayed request's reply.
    @Test func heldUDPRequestIsAnsweredOnceDespiteRetransmissions() throws {
        let harness = try FrontEndHarness()
        let interceptor = FrontEndFakeInterceptor(loop: harness.loop, mode: .holdThenReplay(seconds: 2.5))
        harness.frontEnd.interceptor = interceptor
        let client = try FrontEndTestSocket(udpTo: harness.address)
        let request = harness.realm.asRequest()
        var replies: [[UInt8]] = []
        let started = Date()
        client.send(request)
        for retry in 1...4 {   // the client's retransmissions, every 0.5 s
            harness.drive(timeout: Double(retry) * 0.5 - Date().timeIntervalSince(started)) {
                replies += client.datagrams()
                return false
            }
            client.send(request)
        }
        #expect(harness.drive(timeout: 5) { replies += client.datagrams(); return !replies.isEmpty })
        harness.idle(1.0)
        replies += client.datagrams()
        #expect(Date().timeIntervalSince(started) >= 2.5)
        #expect(replies.count == 1)
        #expect(frontEndKRBErrorCode(replies.first) == 25)   // pre-authentication required
        #expect(interceptor.seen.count == 1)
        #expect(interceptor.replayResults.count == 1)
        let counters = harness.frontEnd.counters
        #expect(counters.udpRequests == 1 && counters.absorbedRetries == 4 && counters.replays == 1 && counters.udpReplies == 1)
        #expect(harness.frontEnd.udpRequestsInFlight == 0)
    }

    /// Held before krb5kdc sees it (the engine's way around krb5kdc's
    /// lookaside cache): retransmissions are absorbed, krb5kdc gets it once.
    @Test func requestHeldBeforeForwardingReachesTheKDCOnce() throws {
        let harness = try FrontEndHarness()
        let interceptor = FrontEndFakeInterceptor(loop: harness.loop, mode: .keep, holdBeforeForward: 1.2)
        harness.frontEnd.interceptor = interceptor
        let udp = try FrontEndTestSocket(udpTo: harness.address)
        let tcp = try FrontEndTestSocket(tcpTo: harness.address)
        let request = harness.realm.asRequest()
        udp.send(request)
        tcp.send(TCPFraming.frame(harness.realm.asRequest()))
        harness.idle(0.5)
        udp.send(request)
        harness.idle(0.5)
        #expect(udp.datagrams().isEmpty && tcp.pump().received.isEmpty && interceptor.seen.isEmpty)
        #expect(harness.drive { interceptor.kept.count == 2 })
        for (held, index) in zip(interceptor.kept, 0...) { held.deliver(interceptor.seen[index].reply) }
        var replies: [[UInt8]] = []
        #expect(harness.drive { replies += udp.datagrams(); return !replies.isEmpty && tcp.pump().firstFrame != nil })
        #expect(frontEndKRBErrorCode(replies.first) == 25 && frontEndKRBErrorCode(tcp.firstFrame) == 25)
        let counters = harness.frontEnd.counters
        #expect(counters.heldBeforeBackend == 2 && counters.absorbedRetries == 1 && counters.udpRequests == 1)
        #expect(interceptor.arrived.count == 2)
    }

    /// After delivery the request is forgotten: a later duplicate is a new
    /// request (our reply may have been lost), answered by krb5kdc again.
    @Test func duplicateAfterTheAnswerIsRelayedAgain() throws {
        let harness = try FrontEndHarness()
        let client = try FrontEndTestSocket(udpTo: harness.address)
        let request = harness.realm.asRequest()
        var replies: [[UInt8]] = []
        for expected in 1...2 {
            client.send(request)
            #expect(harness.drive { replies += client.datagrams(); return replies.count == expected })
        }
        #expect(harness.frontEnd.counters.udpRequests == 2 && harness.frontEnd.counters.absorbedRetries == 0)
    }

    @Test func heldTCPRequestWaitsAndAClientThatLeavesCrashesNothing() throws {
        let harness = try FrontEndHarness()
        let interceptor = FrontEndFakeInterceptor(loop: harness.loop, mode: .keep)
        harness.frontEnd.interceptor = interceptor
        let waiting = try FrontEndTestSocket(tcpTo: harness.address)
        let leaving = try FrontEndTestSocket(tcpTo: harness.address)
        waiting.send(TCPFraming.frame(harness.realm.asRequest()))
        leaving.send(TCPFraming.frame(harness.realm.asRequest()))
        #expect(harness.drive { interceptor.kept.count == 2 }, "\(harness.frontEnd.counters)")
        harness.idle(0.5)
        #expect(waiting.pump().received.isEmpty && !waiting.isClosedByPeer)
        // One client gives up while its request is held.
        leaving.close()
        #expect(harness.drive { harness.frontEnd.openTCPConnections == 1 })
        // Replays while held: up to the limit (4), each with a fresh reply.
        var replayed: [Result<[UInt8], RelayFailure>] = []
        let waitingIndex = try #require(interceptor.seen.firstIndex { $0.client.address.port == frontEndTestLocalPort(of: waiting.fd) })
        for _ in 1...5 { interceptor.kept[waitingIndex].replay { replayed.append($0) } }
        #expect(harness.drive { replayed.count == 5 })
        #expect(replayed.filter { frontEndKRBErrorCode(try? $0.get()) == 25 }.count == 4)
        #expect(replayed.contains(.failure(.tooManyReplays)))
        // The engine delivers both: the closed one is a no-op, the other arrives once.
        for (held, index) in zip(interceptor.kept, 0...) {
            held.deliver(interceptor.seen[index].reply)
            held.deliver(interceptor.seen[index].reply)
        }
        #expect(harness.drive { waiting.pump().firstFrame != nil })
        #expect(frontEndKRBErrorCode(waiting.firstFrame) == 25)
        #expect(waiting.received.count == 4 + (waiting.firstFrame?.count ?? -4))
        #expect(harness.frontEnd.counters.tcpReplies == 1)
        // Replay after the end reports cancellation, later on the loop.
        var late: Result<[UInt8], RelayFailure>?
        interceptor.kept[1].replay { late = $0 }
        #expect(late == nil)
        #expect(harness.drive { late != nil })
        #expect(late == .failure(.cancelled))
    }

    @Test func holdThatIsNeverDeliveredExpires() throws {
        var limits = FrontEndHarness.testLimits
        limits.holdTimeout = 0.3
        let harness = try FrontEndHarness(limits: limits)
        let interceptor = FrontEndFakeInterceptor(loop: harness.loop, mode: .keep)
        harness.frontEnd.interceptor = interceptor
        let udp = try FrontEndTestSocket(udpTo: harness.address)
        let tcp = try FrontEndTestSocket(tcpTo: harness.address)
        udp.send(harness.realm.asRequest())
        tcp.send(TCPFraming.frame(harness.realm.asRequest()))
        #expect(harness.drive { harness.frontEnd.counters.holdsExpired == 2 })
        #expect(harness.drive { tcp.pump().isClosedByPeer })
        #expect(tcp.received.isEmpty && udp.datagrams().isEmpty)
        #expect(harness.frontEnd.udpRequestsInFlight == 0 && harness.frontEnd.openTCPConnections == 0)
    }

    /// krb5kdc down: UDP requests are dropped after the retries, TCP clients
    /// are disconnected; both are counted, and service resumes with the KDC.
    @Test func backendDownThenBackAgain() throws {
        let realm = try FrontEndTestRealm()
        defer { realm.destroy() }
        let harness = try FrontEndHarness(realm: realm)
        var probe: Result<Void, RelayFailure>?
        harness.frontEnd.probeBackend { probe = $0 }
        #expect(harness.drive { probe != nil })
        #expect((try? probe?.get()) != nil)

        try realm.stopKDC()
        let udp = try FrontEndTestSocket(udpTo: harness.address)
        let tcp = try FrontEndTestSocket(tcpTo: harness.address)
        udp.send(realm.asRequest())
        tcp.send(TCPFraming.frame(realm.asRequest()))
        #expect(harness.drive { tcp.pump().isClosedByPeer })
        #expect(tcp.received.isEmpty)
        #expect(harness.drive { harness.frontEnd.counters.relayErrors == 2 })
        #expect(udp.datagrams().isEmpty)
        probe = nil
        harness.frontEnd.probeBackend(over: .tcp) { probe = $0 }
        #expect(harness.drive { probe != nil })
        #expect(probe.map { if case .failure(.backendUnreachable(ECONNREFUSED)) = $0 { true } else { false } } == true)

        try realm.startKDC()
        udp.send(realm.asRequest())
        var replies: [[UInt8]] = []
        #expect(harness.drive { replies += udp.datagrams(); return !replies.isEmpty })
        #expect(frontEndKRBErrorCode(replies.first) == 25)
        let again = try FrontEndTestSocket(tcpTo: harness.address)
        again.send(TCPFraming.frame(realm.asRequest()))
        #expect(harness.drive { again.pump().firstFrame != nil })
        #expect(frontEndKRBErrorCode(again.firstFrame) == 25)
    }

    @Test(arguments: [FrontEndConfiguration.TCPClientBackendPolicy.tcp, .udpFirst(maxUDPRequest: 1465)])
    func twoHundredConcurrentTCPConnections(backendPolicy: FrontEndConfiguration.TCPClientBackendPolicy) throws {
        var limits = FrontEndHarness.testLimits
        limits.listenBacklog = 512
        let harness = try FrontEndHarness(tcpClientBackend: backendPolicy, limits: limits)
        let clients = try (0..<200).map { _ in try FrontEndTestSocket(tcpTo: harness.address) }
        for client in clients { client.send(TCPFraming.frame(harness.realm.asRequest())) }
        var peak = 0
        #expect(harness.drive(timeout: 30) {
            peak = max(peak, harness.frontEnd.openTCPConnections)
            return clients.allSatisfy { $0.pump().firstFrame != nil }
        })
        #expect(peak == 200)
        #expect(clients.allSatisfy { frontEndKRBErrorCode($0.firstFrame) == 25 })
        #expect(harness.frontEnd.counters.tcpRequests == 200 && harness.frontEnd.counters.tcpReplies == 200)
        for client in clients { client.shutdownSending() }
        #expect(harness.drive { harness.frontEnd.openTCPConnections == 0 })
    }

    /// At the connection cap, further clients wait in the backlog and are
    /// served as earlier connections end.
    @Test func connectionCapQueuesClientsInTheBacklog() throws {
        var limits = FrontEndHarness.testLimits
        limits.maxTCPConnections = 5
        let harness = try FrontEndHarness(limits: limits)
        let clients = try (0..<20).map { _ in try FrontEndTestSocket(tcpTo: harness.address) }
        for client in clients { client.send(TCPFraming.frame(harness.realm.asRequest())) }
        var peak = 0
        #expect(harness.drive(timeout: 20) {
            peak = max(peak, harness.frontEnd.openTCPConnections)
            // MIT clients close after their reply; so do these.
            for client in clients where client.firstFrame == nil {
                if client.pump().firstFrame != nil { client.shutdownSending() }
            }
            return clients.allSatisfy { $0.firstFrame != nil }
        })
        #expect(peak <= 6)   // the cap, and the newest connection while room is made
        // Busy connections are never evicted: the listeners pause instead.
        #expect(harness.frontEnd.counters.acceptPauses + harness.frontEnd.counters.idleEvictions >= 1)
        #expect(harness.frontEnd.counters.tcpReplies == 20)
    }

    /// Idle connections cannot lock clients out: at the cap, the connection
    /// that has waited longest for a message (at least a second) is closed
    /// to make room.
    @Test func atTheCapTheOldestIdleConnectionMakesRoom() throws {
        var limits = FrontEndHarness.testLimits
        limits.maxTCPConnections = 5
        let harness = try FrontEndHarness(limits: limits)
        var idle: [FrontEndTestSocket] = []
        for _ in 0..<5 {
            idle.append(try FrontEndTestSocket(tcpTo: harness.address))
            let count = idle.count
            #expect(harness.drive { harness.frontEnd.openTCPConnections == count })
        }
        let user = try FrontEndTestSocket(tcpTo: harness.address)
        user.send(TCPFraming.frame(harness.realm.asRequest()))
        #expect(harness.drive(timeout: 10) { user.pump().firstFrame != nil })
        #expect(frontEndKRBErrorCode(user.firstFrame) == 25)
        // The newest connection is accepted one over the cap; the longest-idle one then goes.
        #expect(harness.drive(timeout: 10) { harness.frontEnd.counters.idleEvictions == 1 })
        #expect(harness.frontEnd.openTCPConnections == 5)
        // The first idle connection was the one closed; the others are still open.
        #expect(harness.drive { idle[0].pump().isClosedByPeer })
        #expect(!idle[4].pump().isClosedByPeer)
    }

    /// Every socket of the front end (listeners, clients, backend) is closed
    /// by close(). Counted among /proc/self/fd by port, with a realm of its
    /// own, so tests running in parallel do not disturb the count.
    @Test func closeReleasesEverySocket() throws {
        let realm = try FrontEndTestRealm()
        defer { realm.destroy() }
        var limits = FrontEndHarness.testLimits
        limits.backendTCPTimeout = 30
        let harness = try FrontEndHarness(realm: realm, listen: ["127.0.0.1:0", "[::1]:0"], limits: limits)
        let interceptor = FrontEndFakeInterceptor(loop: harness.loop, mode: .keep)
        let count = { frontEndSocketCount(publicPort: harness.port, backendPort: realm.kdcPort) }
        #expect(count() == 4)   // UDP and TCP on two addresses
        // Busy state: served, held and idle connections, UDP in flight, pooled backend sockets.
        let served = try FrontEndTestSocket(udpTo: harness.address)
        served.send(realm.asRequest())
        #expect(harness.drive { !served.datagrams().isEmpty })
        harness.frontEnd.interceptor = interceptor
        let heldUDP = try FrontEndTestSocket(udpTo: harness.address)
        let heldTCP = try FrontEndTestSocket(tcpTo: harness.address)
        let idle = try FrontEndTestSocket(tcpTo: harness.frontEnd.boundAddresses[1])
        heldUDP.send(realm.asRequest())
        heldTCP.send(TCPFraming.frame(realm.asRequest()))
        #expect(harness.drive { interceptor.kept.count == 2 && harness.frontEnd.openTCPConnections == 2 })
        interceptor.kept[0].replay { _ in }   // a replay in flight at close
        var probe: Result<Void, RelayFailure>?
        harness.frontEnd.probeBackend(over: .tcp) { probe = $0 }
        #expect(count() > 4)
        harness.frontEnd.close()
        #expect(count() == 0)
        harness.frontEnd.close()   // idempotent
        #expect(harness.drive { heldTCP.pump().isClosedByPeer && idle.pump().isClosedByPeer })
        for held in interceptor.kept { held.deliver([0x7E]) }   // no-ops after close
        #expect(harness.drive { probe != nil })
        #expect(probe.map { if case .failure(.cancelled) = $0 { true } else { false } } == true)
        #expect(throws: FrontEndError.closed) { try harness.frontEnd.start() }
    }
}

/// The engine's part in tests: holds replies, replays, delivers.
final class FrontEndFakeInterceptor: RelayInterceptor {
    enum Mode {
        /// After `seconds`, replay the request and deliver the new reply.
        case holdThenReplay(seconds: Double)
        /// Keep the closures for the test to call.
        case keep
    }

    struct Held {
        let deliver: RelayDeliver
        let replay: RelayReplay
    }

    let loop: EventLoop
    let mode: Mode
    /// Hold each request this long before forwarding it; nil forwards at once.
    let holdBeforeForward: Double?
    private(set) var arrived: [RelayClient] = []
    private(set) var seen: [(request: [UInt8], reply: [UInt8], client: RelayClient)] = []
    private(set) var kept: [Held] = []
    private(set) var replayResults: [Result<[UInt8], RelayFailure>] = []

    init(loop: EventLoop, mode: Mode, holdBeforeForward: Double? = nil) {
        self.loop = loop
        self.mode = mode
        self.holdBeforeForward = holdBeforeForward
    }

    func requestArrived(_ request: [UInt8], client: RelayClient, forward: @escaping () -> Void) {
        arrived.append(client)
        guard let holdBeforeForward else { return forward() }
        loop.schedule(after: holdBeforeForward) {
            forward()
            forward()   // only the first counts
        }
    }

    func backendReplied(request: [UInt8], reply: [UInt8], client: RelayClient,
                        deliver: @escaping RelayDeliver, replay: @escaping RelayReplay) {
        seen.append((request, reply, client))
        switch mode {
        case .holdThenReplay(let seconds):
            loop.schedule(after: seconds) { [self] in
                replay { result in
                    self.replayResults.append(result)
                    if case .success(let again) = result { deliver(again) }
                }
            }
        case .keep:
            kept.append(Held(deliver: deliver, replay: replay))
        }
    }
}
