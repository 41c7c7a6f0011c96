import Foundation
import KXDaemon
import KXEventLoop
import KXOver

// Relay benchmark (scripts/relay-bench makes the realm and starts krb5kdc):
// a realistic request, an AS-REQ without pre-authentication for an existing
// principal (krb5kdc looks it up and answers KRB-ERROR 25), sent straight to
// krb5kdc and through the front end, which runs in this process on its own
// loop thread as in kxoverd. Latency is measured with the two paths
// interleaved request by request; throughput with the two paths alternating
// in equal time slices. Ratios are through ÷ direct. Bounded in count and time.

let usage = "usage: kxover-relay-bench REALM BACKEND_ADDRESS CLIENT_PRINCIPAL [LATENCY_ROUNDS=1000] [SECONDS_PER_SLICE=1.0] [CLIENTS=8]"
let arguments = CommandLine.arguments
guard arguments.count >= 4, let backend = try? SocketAddress(parsing: arguments[2]) else {
    print(usage)
    exit(2)
}
let realm = arguments[1]
let clientPrincipal = arguments[3]
let latencyRounds = max(10, min(100_000, arguments.count > 4 ? Int(arguments[4]) ?? 1000 : 1000))
let sliceSeconds = max(0.1, min(30, arguments.count > 5 ? Double(arguments[5]) ?? 1.0 : 1.0))
let clients = max(1, min(64, arguments.count > 6 ? Int(arguments[6]) ?? 8 : 8))

// MARK: - The front end on its own loop thread

/// A front end running on a thread of its own; `stop()` closes it there and
/// returns its final counters.
final class FrontEndThread: Sendable {
    let address: SocketAddress
    /// Only the loop thread may open this; others post work through `executor`.
    private let handle: LoopBound<(EventLoop, KDCFrontEnd)>
    private let executor: LoopExecutor
    private let finished = DispatchSemaphore(value: 0)
    private let counters = KXEventLoop.Mutex<(FrontEndCounters, cpuSeconds: Double)?>(nil)

    init(realm: String, backend: SocketAddress) throws {
        let ready = DispatchSemaphore(value: 0)
        let started = KXEventLoop.Mutex<Result<(SocketAddress, LoopBound<(EventLoop, KDCFrontEnd)>, LoopExecutor), any Error>?>(nil)
        let finished = self.finished
        let thread = Thread {
            try? "front-end".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)   // for perf and top
            do {
                let loop = try EventLoop()
                let configuration = FrontEndConfiguration(realm: realm, listen: [try SocketAddress(parsing: "127.0.0.1:0")], backend: backend)
                let frontEnd = try KDCFrontEnd(configuration: configuration, loop: loop)
                try frontEnd.start()
                let handle = LoopBound((loop, frontEnd), executor: loop.executor)
                started.withLock { $0 = .success((frontEnd.boundAddresses[0], handle, loop.executor)) }
                ready.signal()
                loop.run()
            } catch {
                started.withLock { $0 = .failure(error) }
                ready.signal()
            }
            finished.signal()
        }
        thread.start()
        ready.wait()
        (address, handle, executor) = try started.withLock { $0! }.get()
    }

    /// Closes the front end; its counters and the CPU time its thread used.
    func stop() -> (FrontEndCounters, cpuSeconds: Double) {
        let handle = self.handle, counters = self.counters
        executor.execute {
            let (loop, frontEnd) = handle.value
            var cpu = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu)
            counters.withLock { $0 = (frontEnd.counters, Double(cpu.tv_sec) + Double(cpu.tv_nsec) / 1e9) }
            frontEnd.close()
            loop.stop()
        }
        finished.wait()
        return counters.withLock { $0! }
    }
}

// MARK: - Blocking Kerberos clients (the load, on threads of the bench)

enum Transport: String, Sendable { case udp = "UDP", tcp = "TCP" }

struct Workload: Sendable {
    let realm: String
    let client: String

    /// A fresh AS-REQ each time: krb5kdc answers byte-identical requests from
    /// its lookaside cache, which would measure the cache instead of a lookup.
    func request() -> [UInt8] {
        BackendProbeRequest.asRequest(client: client, realm: realm, nonce: UInt32.random(in: 1...0x7FFF_FFFF),
                                      till: KerberosTime(secondsSinceEpoch: Int64(time(nil)) + 36_000)!)
    }
}

enum Wire {
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func connectSocket(_ type: Int32, to address: SocketAddress, timeout seconds: Int) -> Int32? {
        let fd = socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var v4 = sockaddr_in()
        v4.sin_family = sa_family_t(AF_INET)
        v4.sin_port = address.port.bigEndian
        withUnsafeMutableBytes(of: &v4.sin_addr) { $0.copyBytes(from: address.addressBytes) }
        let connected = withUnsafePointer(to: &v4) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { close(fd); return nil }
        return fd
    }

    /// One TCP connection per request, as MIT clients do.
    static func tcpExchange(_ request: [UInt8], to address: SocketAddress) -> [UInt8]? {
        guard let fd = connectSocket(Int32(SOCK_STREAM.rawValue), to: address, timeout: 5) else { return nil }
        defer { close(fd) }
        let framed = TCPFraming.frame(request)
        guard send(fd, framed, framed.count, Int32(MSG_NOSIGNAL)) == framed.count else { return nil }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            if received.count >= 4 {
                let length = Int(received[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                if received.count >= 4 + length { return Array(received[4..<(4 + length)]) }
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return nil }
            received += buffer[0..<n]
        }
    }
}

/// One connected UDP socket; one request outstanding at a time.
final class UDPClient {
    let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 65_536)

    init(to address: SocketAddress) {
        guard let fd = Wire.connectSocket(Int32(SOCK_DGRAM.rawValue), to: address, timeout: 2) else {
            fatalError("no UDP socket to \(address)")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    func exchange(_ request: [UInt8]) -> [UInt8]? {
        guard send(fd, request, request.count, 0) == request.count else { return nil }
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? Array(buffer[0..<n]) : nil
    }
}

// MARK: - Measurements

enum Measure {
    /// Sequential requests, the two paths interleaved; milliseconds, sorted.
    static func latencies(_ transport: Transport, _ workload: Workload, rounds: Int,
                          direct: SocketAddress, through: SocketAddress) -> (direct: [Double], through: [Double], failures: Int) {
        let udpDirect = UDPClient(to: direct), udpThrough = UDPClient(to: through)
        var samples: ([Double], [Double]) = ([], [])
        var failures = 0
        let warmUp = rounds / 10
        for round in 0..<(rounds + warmUp) {
            for viaFrontEnd in round % 2 == 0 ? [false, true] : [true, false] {
                let request = workload.request()
                let start = Wire.now()
                let reply: [UInt8]? = switch transport {
                case .udp: (viaFrontEnd ? udpThrough : udpDirect).exchange(request)
                case .tcp: Wire.tcpExchange(request, to: viaFrontEnd ? through : direct)
                }
                let elapsed = Double(Wire.now() - start) / 1e6
                guard reply?.first == KRBError.applicationTag else { failures += 1; continue }
                if round < warmUp { continue }
                if viaFrontEnd { samples.1.append(elapsed) } else { samples.0.append(elapsed) }
            }
        }
        return (samples.0.sorted(), samples.1.sorted(), failures)
    }

    /// `clients` threads sending back to back for `seconds`; replies per second.
    static func throughput(_ transport: Transport, _ workload: Workload, clients: Int,
                           to address: SocketAddress, seconds: Double) -> (rate: Double, failures: Int) {
        let totals = KXEventLoop.Mutex((replies: 0, failures: 0))
        let group = DispatchGroup()
        let deadline = Wire.now() + UInt64(seconds * 1e9)
        for _ in 0..<clients {
            group.enter()
            Thread {
                let udp = transport == .udp ? UDPClient(to: address) : nil
                var ok = 0, failed = 0
                while Wire.now() < deadline {
                    let request = workload.request()
                    let reply = udp.map { $0.exchange(request) } ?? Wire.tcpExchange(request, to: address)
                    if reply?.first == KRBError.applicationTag { ok += 1 } else { failed += 1 }
                }
                totals.withLock { $0.replies += ok; $0.failures += failed }
                group.leave()
            }.start()
        }
        group.wait()
        let result = totals.withLock { $0 }
        return (Double(result.replies) / seconds, result.failures)
    }
}

// MARK: - Run

let workload = Workload(realm: realm, client: clientPrincipal)
let frontEnd = try FrontEndThread(realm: realm, backend: backend)
let through = frontEnd.address

// Sanity: both paths answer, with the same KRB-ERROR code.
let codes = [backend, through].map { address in
    UDPClient(to: address).exchange(workload.request()).flatMap { try? KRBError(derEncoded: $0) }?.errorCode
}
guard let code = codes[0], codes[1] == code else {
    print("relay bench: no KRB-ERROR from krb5kdc at \(backend) (direct \(codes[0].map(String.init) ?? "none"), through \(codes[1].map(String.init) ?? "none"))")
    exit(1)
}

func median(_ s: [Double]) -> Double { s.isEmpty ? .nan : s[s.count / 2] }
func p99(_ s: [Double]) -> Double { s.isEmpty ? .nan : s[min(s.count - 1, s.count * 99 / 100)] }
func column(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
func number(_ value: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }

print("relay: AS-REQ without pre-auth for \(clientPrincipal)@\(realm) → KRB-ERROR \(code) from krb5kdc at \(backend); front end at \(through)")
print("  latency: \(latencyRounds) sequential requests per path, interleaved, after \(latencyRounds / 10) warm-up;"
      + " throughput: \(clients) clients, 2 slices of \(number(sliceSeconds, 1)) s per path, alternating")
print("  " + column("transport", 10) + column("path", 9) + column("median ms", 11) + column("p99 ms", 9) + "replies/s")
var clientFailures = 0
for transport in [Transport.udp, .tcp] {
    let latency = Measure.latencies(transport, workload, rounds: latencyRounds, direct: backend, through: through)
    var directRate = 0.0, throughRate = 0.0
    for _ in 0..<2 {
        let d = Measure.throughput(transport, workload, clients: clients, to: backend, seconds: sliceSeconds)
        let t = Measure.throughput(transport, workload, clients: clients, to: through, seconds: sliceSeconds)
        directRate += d.rate / 2
        throughRate += t.rate / 2
        clientFailures += d.failures + t.failures
    }
    clientFailures += latency.failures
    let name = transport.rawValue
    print("  " + column(name, 10) + column("direct", 9) + column(number(median(latency.direct)), 11)
          + column(number(p99(latency.direct)), 9) + String(Int(directRate)))
    print("  " + column(name, 10) + column("through", 9) + column(number(median(latency.through)), 11)
          + column(number(p99(latency.through)), 9) + String(Int(throughRate)))
    print("  " + column(name, 10) + column("ratio", 9) + column(number(median(latency.through) / median(latency.direct), 2), 11)
          + column(number(p99(latency.through) / p99(latency.direct), 2), 9) + number(throughRate / directRate, 2))
}
let (counters, cpuSeconds) = frontEnd.stop()
let relayed = counters.udpRequests + counters.tcpRequests
print("  ratios are through ÷ direct (latency above 1 is slower, replies/s below 1 is slower); budget (ARCHITECTURE §8): within 10%")
print("  front end: UDP \(counters.udpRequests) requests/\(counters.udpReplies) replies, TCP \(counters.tcpRequests)/\(counters.tcpReplies),"
      + " relay errors \(counters.relayErrors); client failures \(clientFailures);"
      + " front-end thread CPU \(number(cpuSeconds * 1e6 / Double(max(relayed, 1)), 1)) µs per request")
exit(counters.relayErrors == 0 && clientFailures == 0 ? 0 : 1)
