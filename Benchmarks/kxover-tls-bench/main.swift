import TLSPoolHarness
import Foundation
import KXEventLoop
import TLSPool

// TLS benchmark: full mutual TLS 1.3 handshakes with DANE through two
// embedded TLS Pools (STARTTLS record flow, LOCALID, PLAINTEXT_CONNECT, both
// exporters compared), against two baselines measured in the same run
// (scripts/bench passes them in): the floor, Benchmarks/tls-floor (the same
// mutual handshake, pin checks and exporters in process with GnuTLS, one
// thread per side over a socketpair: what the pool cannot beat), and
// `gnutls-cli --benchmark-tls-kx` (server-authenticated only, for reference).
// Bounded: COUNT handshakes.

@MainActor
func benchmark() throws {
    let arguments = CommandLine.arguments
    guard arguments.count >= 3 else {
        print("usage: kxover-tls-bench CERT_DIR GNUTLS_RATE [COUNT [FLOOR_RATE [IN_FLIGHT:FLOOR_RATE ...]]]")
        exit(2)
    }
    // The floor with N handshakes in flight, for the same parallelism through the pool.
    let parallel: [(inFlight: Int, floor: Double)] = arguments.dropFirst(5).compactMap { argument in
        let parts = argument.split(separator: ":")
        guard parts.count == 2, let n = Int(parts[0]), n > 1, let rate = Double(parts[1]) else { return nil }
        return (n, rate)
    }
    let dir = arguments[1]
    let baseline = Double(arguments[2]) ?? 0
    let count = arguments.count > 3 ? Int(arguments[3]) ?? 200 : 200
    let floor = arguments.count > 4 ? Double(arguments[4]) ?? 0 : 0
    func tlsa(_ name: String) throws -> TLSALookup {
        let text = try String(contentsOfFile: "\(dir)/\(name).tlsa-ee", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return .secure([TLSARecord(presentation: text)!])
    }
    let resolver = StaticTLSAResolver(["kdc.client.test": try tlsa("client"), "kdc.service.test": try tlsa("service")])
    // BENCH_TLS_LOG=1: the pools' diagnostics on stderr (why a handshake failed).
    let logging = ProcessInfo.processInfo.environment["BENCH_TLS_LOG"] != nil
    func configuration(_ name: String, host: String) -> TLSPoolConfiguration {
        var configuration = TLSPoolConfiguration(
            identities: [.init(localID: host, certificateFile: "\(dir)/\(name).crt", keyFile: "\(dir)/\(name).key")], tlsaResolver: resolver)
        configuration.maximumSessions = 4096   // ended sessions wind down while the next ones start
        if logging { configuration.log = { FileHandle.standardError.write(Data("\(name) pool: \($0)\n".utf8)) } }
        return configuration
    }
    let clientPool = try TLSPoolServer(configuration: configuration("client", host: "kdc.client.test"))
    let serverPool = try TLSPoolServer(configuration: configuration("service", host: "kdc.service.test"))
    let loop = try EventLoop()
    let handshakes = try LoopbackHandshakes(loop: loop, clientPool: clientPool, serverPool: serverPool)
    // As the floor does: a 300-byte exporter context, and the KDC sides
    // connected by a socketpair (so the ratio is the pool's own cost; loopback
    // TCP, as in a crossover, is measured too, for reference).
    let context = [UInt8](repeating: 0x5a, count: 300)
    func sequential(over transport: LoopbackHandshakes.Transport) throws -> (rate: Double, median: Double) {
        handshakes.transport = transport
        _ = try handshakes.runMutualHandshakes(count: 5, clientID: "kdc.client.test", serverID: "kdc.service.test")   // warm up
        let started = Date()
        let durations = try handshakes.runMutualHandshakes(count: count, clientID: "kdc.client.test", serverID: "kdc.service.test",
                                                           exportContext: context)
        let elapsed = Date().timeIntervalSince(started)
        return (Double(count) / elapsed, durations.sorted()[durations.count / 2])
    }
    let overTCP = try sequential(over: .loopbackTCP)
    let (rate, median) = try sequential(over: .socketPair)
    print("TLS through the pool (\(count) full mutual TLS 1.3 handshakes, ECDSA P-256, DANE-EE both ways, + exporter on both sides)")
    print("  measurement                                           per second   median ms")
    if floor > 0 {
        print("  floor: the same handshake in process (baseline)       \(String(format: "%10.0f", floor))   \(String(format: "%9.2f", 1000 / floor))")
    }
    print("  gnutls-cli --benchmark-tls-kx, server auth only       \(String(format: "%10.0f", baseline))   \(String(format: "%9.2f", 1000 / max(baseline, 1)))")
    print("  STARTTLS through two embedded pools                   \(String(format: "%10.0f", rate))   \(String(format: "%9.2f", median * 1000))")
    print("  ...the same, the KDC sides over loopback TCP          \(String(format: "%10.0f", overTCP.rate))   \(String(format: "%9.2f", overTCP.median * 1000))")
    if floor > 0 {
        print("  ratio (pool / floor; goal at least 0.8)               \(String(format: "%10.2f", rate / floor))")
    }
    print("  ratio (pool / gnutls-cli)                             \(String(format: "%10.2f", rate / max(baseline, 1)))")
    if !parallel.isEmpty {
        print("  in flight   floor per second   pool per second   ratio (goal at least 0.8)")
        var poolRates: [(inFlight: Int, rate: Double)] = [(1, rate)]
        for (inFlight, floorRate) in parallel {
            let total = max(count, 2 * inFlight)
            let elapsed = try handshakes.runConcurrentHandshakes(count: total, inFlight: inFlight,
                                                                 clientID: "kdc.client.test", serverID: "kdc.service.test",
                                                                 exportContext: context)
            let poolRate = Double(total) / elapsed
            poolRates.append((inFlight, poolRate))
            print("  \(String(format: "%9d", inFlight))   \(String(format: "%16.0f", floorRate))   \(String(format: "%15.0f", poolRate))   \(String(format: "%5.2f", poolRate / max(floorRate, 1)))")
        }
        // Issue 17: the most in flight keeps at least 0.9 of the best level's throughput.
        if let most = poolRates.max(by: { $0.inFlight < $1.inFlight }), let best = poolRates.map(\.rate).max() {
            print("  pool at \(most.inFlight) in flight ÷ its best level           \(String(format: "%10.2f", most.rate / best))   (goal at least 0.9)")
        }
    }
    clientPool.shutdown(timeout: 2)
    serverPool.shutdown(timeout: 2)
}

try benchmark()
