import Foundation
import Glibc
import KXDaemon
import KXDNS
import KXEventLoop
import KXOver
import Logging
import TLSPool

// Concurrency benchmark (scripts/concurrency-bench builds the world): the
// SERVICE side is a real kxoverd (release) in front of a real krb5kdc and KDB;
// the CLIENT side is simulated here, hundreds of client realms CLIENT0000.TEST
// ... in one process, each with its own KDC host kdcNNNN.client.test and
// certificate, all in the DNSSEC-signed zone on loopback. One event loop runs
// the project's client machinery: a CrossoverEngine (ClientCrossover records,
// KXOverLookups over the validating UnboundResolver, PoolPeerDialer) over an
// embedded TLSPoolServer holding one identity per client realm. The client
// KDBs are in memory (the service KDB is the real one).
//
// Waves: KxC runs C exchanges keeping K in flight, each exchange for a fresh
// client realm (the service rate-limits repeats of a principal). Per wave:
// per-exchange time (crossover call to completion) median and p99, the wave's
// wall time, failures with reasons, ratios against the first wave's median and
// p99, and the service kxoverd's peak RSS (VmHWM), threads and fds, sampled
// every 10 ms from /proc. Bounded: every wave has a fixed count and a time bound.

let usage = """
    usage: kxover-concurrency-bench CONFIG CERT_DIR SERVICE_REALM SERVICE_PID WAVES OUT_DIR
      CONFIG     a kxover.conf whose [kxoverd] dns_* relations configure the resolver
      CERT_DIR   client.key and client-NNNN.crt for each client realm CLIENTNNNN.TEST
      WAVES      e.g. 1x20,10x10,100x100,500x500 (in flight x exchanges); realm 0000 warms up
      OUT_DIR    gets succeeded.txt (one client realm per line)
    """
let arguments = CommandLine.arguments
guard arguments.count == 7, let servicePID = Int32(arguments[4]) else {
    FileHandle.standardError.write(Data((usage + "\n").utf8))
    exit(2)
}
let configPath = arguments[1], certDir = arguments[2], serviceRealm = arguments[3], outDir = arguments[6]
let waves: [(inFlight: Int, count: Int)] = arguments[5].split(separator: ",").compactMap { spec in
    let parts = spec.split(separator: "x").compactMap { Int($0) }
    guard let k = parts.first, k >= 1, k <= 2000 else { return nil }
    let c = parts.count > 1 ? parts[1] : k
    return (k, max(1, min(5000, c)))
}
guard !waves.isEmpty else { FileHandle.standardError.write(Data("no waves in \(arguments[5])\n".utf8)); exit(2) }
let waveBound = 120.0   // seconds per wave at most (client exchanges give up after 30 s anyway)

let probeCount = 3   // after the waves: can the service still cross?
let realmCount = 1 + waves.reduce(0) { $0 + $1.count } + probeCount
// The minting-flood mode (BENCH_OTHER_ZONE_EVERY=N, scripts/e2e-flood): every
// N-th realm of the waves and the probes are below OTHER.TEST; the rest are
// below TEST, one zone minting realms against the service's zone budget.
// scripts/concurrency-bench names the realms by the same rule.
let otherZoneEvery = Int(ProcessInfo.processInfo.environment["BENCH_OTHER_ZONE_EVERY"] ?? "") ?? 0
func isOtherZone(_ i: Int) -> Bool {
    otherZoneEvery > 0 && (i >= realmCount - probeCount || (i > 0 && i % otherZoneEvery == 0))
}
func realmName(_ i: Int) -> String { String(format: isOtherZone(i) ? "CLIENT%04d.OTHER.TEST" : "CLIENT%04d.TEST", i) }
func hostName(_ i: Int) -> String { String(format: isOtherZone(i) ? "kdc%04d.other.test" : "kdc%04d.client.test", i) }

// MARK: - /proc sampling

struct ProcSample {
    var rssKiB = 0, hwmKiB = 0, threads = 0, fds = 0

    static func read(_ pid: String) -> ProcSample? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        var sample = ProcSample()
        for line in status.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let value = Int(fields[1]) else { continue }
            switch fields[0] {
            case "VmRSS:": sample.rssKiB = value
            case "VmHWM:": sample.hwmKiB = value
            case "Threads:": sample.threads = value
            default: break
            }
        }
        guard let dir = opendir("/proc/\(pid)/fd") else { return nil }
        var count = 0
        while let entry = readdir(dir) {
            let first = entry.pointee.d_name.0
            if first != UInt8(ascii: ".") { count += 1 }
        }
        closedir(dir)
        sample.fds = pid == "self" ? count - 1 : count   // not the directory we are reading
        return sample
    }

    mutating func raise(to other: ProcSample) {
        rssKiB = max(rssKiB, other.rssKiB); hwmKiB = max(hwmKiB, other.hwmKiB)
        threads = max(threads, other.threads); fds = max(fds, other.fds)
    }
}

/// Samples the service kxoverd and this process every 10 ms on a thread of its own.
final class Sampler: @unchecked Sendable {
    private let peaks = KXEventLoop.Mutex<(service: ProcSample, me: ProcSample, samples: Int, lost: Bool)>((ProcSample(), ProcSample(), 0, false))
    private let stopped = KXEventLoop.Mutex(false)
    private let pid: String

    init(pid: Int32) {
        self.pid = String(pid)
        let thread = Thread { [self] in
            while !stopped.withLock({ $0 }) {
                let service = ProcSample.read(self.pid)
                let me = ProcSample.read("self")
                peaks.withLock { state in
                    if let service { state.service.raise(to: service) } else { state.lost = true }
                    if let me { state.me.raise(to: me) }
                    state.samples += 1
                }
                usleep(10_000)
            }
        }
        thread.name = "sampler"
        thread.start()
    }

    /// The peaks since the last reset, and starts new ones.
    func takePeaks() -> (service: ProcSample, me: ProcSample, samples: Int, lost: Bool) {
        peaks.withLock { state in
            defer { state = (ProcSample(), ProcSample(), 0, false) }
            return state
        }
    }

    func now() -> ProcSample? { ProcSample.read(pid) }
    func stop() { stopped.withLock { $0 = true } }
}

// MARK: - The simulated client KDBs

/// One client realm's KDB, in memory: crossover keys by principal.
final class MemoryKeyStore: KeyStore {
    private let loop: EventLoop
    private var sets: [Principal: ManagedKeySet] = [:]

    init(loop: EventLoop) { self.loop = loop }

    func inspect(_ principal: Principal, completion: @escaping (Result<KeyStoreEntry, KXError>) -> Void) {
        let entry: KeyStoreEntry = sets[principal].map { .managed($0) } ?? .absent
        _ = loop.schedule(after: 0) { completion(.success(entry)) }
    }

    func store(_ write: CrossoverKeyWrite, completion: @escaping (Result<KeyWriteOutcome, KXError>) -> Void) {
        let version = ManagedKeySet.Version(kvno: write.kvno, etypes: write.layout.etypes, from: write.from, till: write.till)
        sets[write.principal] = ManagedKeySet(principal: write.principal, versions: [version] + (sets[write.principal]?.versions ?? []))
        _ = loop.schedule(after: 0) { completion(.success(.written)) }
    }
}

// MARK: - Setup

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("kxover-concurrency-bench: \(message)\n".utf8))
    exit(1)
}

let setupStart = DispatchTime.now().uptimeNanoseconds
let resolverConfiguration: ResolverConfiguration
do {
    resolverConfiguration = try Configuration.load(path: configPath, requireRealms: false).resolver
} catch { fail("\(error)") }

// Each simulated client realm stands for a client kxoverd with a TLS Pool of
// its own; here every `perPool` consecutive realms share one engine and one
// pool connection (all on the one loop, one pool server, one resolver), so
// the simulated side is not one pool connection carrying the whole wave.
let perPool = max(1, Int(ProcessInfo.processInfo.environment["BENCH_CONCURRENCY_REALMS_PER_POOL"] ?? "") ?? 16)
let loop: EventLoop
let resolver: UnboundResolver
let poolServer: TLSPoolServer
var poolClients: [TLSPoolClient] = []
do {
    loop = try EventLoop()
    resolver = try UnboundResolver(configuration: resolverConfiguration, loop: loop)
    var pool = TLSPoolConfiguration(
        identities: (0..<realmCount).map {
            .init(localID: hostName($0), certificateFile: "\(certDir)/client-\(String(format: "%04d", $0)).crt",
                  keyFile: "\(certDir)/client.key")
        },
        tlsaResolver: try ResolverThread.start(configuration: resolverConfiguration, name: "tlsa-resolver") {
            [timeout = resolverConfiguration.queryTimeout + 1] resolver, executor in
            LoopTLSAResolver(resolver: resolver, executor: executor, timeout: timeout)
        })
    // The simulated side must not be what limits: room for the largest wave twice over.
    pool.maximumSessions = max(512, 2 * (waves.map(\.inFlight).max() ?? 1))
    poolServer = try TLSPoolServer(configuration: pool)
    for _ in stride(from: 0, to: realmCount, by: perPool) {
        poolClients.append(TLSPoolClient(connection: try poolServer.connectInProcess(), loop: loop))
    }
} catch { fail("setup: \(error)") }

var logger = Logger(label: "concurrency-bench")
logger.logLevel = .error
let etypes = Configuration.defaultEtypes
let engines = poolClients.enumerated().map { index, client in
    CrossoverEngine(
        loop: loop,
        realms: (index * perPool..<min(realmCount, (index + 1) * perPool)).map {
            .init(policy: LocalRealmPolicy(realm: realmName($0), kdcHost: hostName($0), etypes: etypes), keyStore: MemoryKeyStore(loop: loop))
        },
        resolver: resolver, pool: client, logger: logger)
}
// The service kxoverd listens on loopback (peer_address_allow = loopback).
for engine in engines { engine.peerAddresses = PeerAddressPolicy(allowed: [.loopback]) }
let setupSeconds = Double(DispatchTime.now().uptimeNanoseconds - setupStart) / 1e9
let sampler = Sampler(pid: servicePID)
guard let idle = sampler.now() else { fail("no /proc/\(servicePID): is the service kxoverd running?") }

// MARK: - Waves

func nowNs() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

struct WaveResult {
    var inFlight: Int
    var durationsMs: [Double] = []
    var failures: [(realm: String, error: String)] = []
    var unfinished = 0
    var wallSeconds = 0.0
    var service = ProcSample()
    var me = ProcSample()
    var samples = 0
    var serviceLost = false
}

var nextRealm = 0
var succeeded: [String] = []
/// Every exchange of the waves after the first (not the warm-up or the
/// probes), for the flood mode's report; the first wave is its baseline.
var outcomes: [(other: Bool, ok: Bool, ms: Double)] = []
var inWaves = false

/// Runs `count` exchanges keeping `inFlight` of them running; bounded by `waveBound`.
@MainActor func runWave(inFlight: Int, count: Int) -> WaveResult {
    var result = WaveResult(inFlight: inFlight)
    var launched = 0, finished = 0
    func launch() {
        let realm = realmName(nextRealm)
        let other = isOtherZone(nextRealm)
        let engine = engines[nextRealm / perPool]
        nextRealm += 1
        launched += 1
        let started = nowNs()
        engine.crossover(from: realm, to: serviceRealm) { outcome in
            let ms = Double(nowNs() - started) / 1e6
            finished += 1
            if inWaves {
                if case .success = outcome { outcomes.append((other, true, ms)) } else { outcomes.append((other, false, ms)) }
            }
            switch outcome {
            case .success:
                result.durationsMs.append(ms)
                succeeded.append(realm)
            case .failure(let error):
                result.failures.append((realm, "after \(String(format: "%.0f", ms)) ms: \(error)"))
            }
            if launched < count { launch() }
        }
    }
    _ = sampler.takePeaks()
    let start = nowNs()
    for _ in 0..<min(inFlight, count) { launch() }
    if !loop.run(until: { finished == count }, timeout: waveBound) {
        result.unfinished = count - finished
    }
    result.wallSeconds = Double(nowNs() - start) / 1e9
    let peaks = sampler.takePeaks()
    result.service = peaks.service
    result.me = peaks.me
    result.samples = peaks.samples
    result.serviceLost = peaks.lost
    return result
}

/// Lets the loop run (connections close, timers fire) for `seconds`.
@MainActor func settle(_ seconds: Double) {
    _ = loop.run(until: { false }, timeout: seconds)
}

// Warm-up: one exchange (realm 0000) opens the service's kadm5 session and
// fills both sides' caches for SERVICE.TEST's own records; not counted.
let warm = runWave(inFlight: 1, count: 1)
if !warm.failures.isEmpty || warm.unfinished > 0 {
    fail("the warm-up exchange failed: \(warm.failures.map(\.error).joined(separator: "; "))\(warm.unfinished > 0 ? "unfinished" : "")")
}
settle(1.5)
_ = sampler.takePeaks()
guard let baseline = sampler.now(), let myBaseline = ProcSample.read("self") else { fail("the service kxoverd is gone") }

var results: [WaveResult] = []
for wave in waves {
    results.append(runWave(inFlight: wave.inFlight, count: wave.count))
    settle(1.0)   // the previous wave's connections and sessions wind down
    inWaves = true
}
inWaves = false

// After the last wave: do threads and fds come back to the baseline?
var after: [(seconds: Double, sample: ProcSample)] = []
let settleStart = nowNs()
var returned: Double?
while true {
    settle(0.25)
    let elapsed = Double(nowNs() - settleStart) / 1e9 + 1.0   // the 1 s settle after the last wave
    guard let sample = sampler.now() else { break }
    if returned == nil && sample.fds <= baseline.fds && sample.threads <= baseline.threads { returned = elapsed }
    if after.isEmpty && elapsed >= 3 {
        after.append((elapsed, sample))
        if returned != nil { break }
        continue
    }
    if !after.isEmpty && (returned != nil || elapsed >= 20) { after.append((elapsed, sample)); break }
}
// Does the service still cross after the waves (one after another, fresh realms)?
let probe = runWave(inFlight: 1, count: probeCount)
sampler.stop()
let myAfter = ProcSample.read("self")

// MARK: - Report

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((Double(sorted.count) * p).rounded(.up))
    return sorted[max(0, min(sorted.count - 1, rank - 1))]
}
func median(_ sorted: [Double]) -> Double {
    sorted.isEmpty ? .nan : sorted[(sorted.count + 1) / 2 - 1]
}
func mib(_ kib: Int) -> String { String(format: "%.1f", Double(kib) / 1024) }
func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }

print("client realms: \(realmCount) (CLIENT0000.TEST warm-up + \(realmCount - 1)), one certificate each, one shared key, \(perPool) per pool connection; simulated side set up in \(String(format: "%.2f", setupSeconds)) s")
print("warm-up exchange: \(String(format: "%.1f", warm.durationsMs.first ?? .nan)) ms")
let base = results[0].durationsMs.sorted()
let baseMedian = median(base)
print("ratios: the wave's median and p99 ÷ the median at \(results[0].inFlight) in flight (\(String(format: "%.1f", baseMedian)) ms); per s: successful exchanges per second of the wave;"
      + " peaks: the service kxoverd during the wave (RSS: VmHWM, its high-water mark since start)")
let header = [("in flight", 11), ("exchanges", 11), ("median ms", 11), ("p99 ms", 9), ("wave s", 8), ("per s", 7), ("ratio median", 14),
              ("ratio p99", 11), ("peak RSS MiB", 14), ("peak threads", 14), ("peak fds", 10), ("failures", 0)]
print(header.map { pad($0.0, $0.1) }.joined())
for result in results {
    let sorted = result.durationsMs.sorted()
    let m = median(sorted), p = percentile(sorted, 0.99)
    let cells = [String(result.inFlight), String(result.durationsMs.count + result.failures.count + result.unfinished),
                 String(format: "%.1f", m), String(format: "%.1f", p), String(format: "%.2f", result.wallSeconds),
                 String(format: "%.0f", Double(result.durationsMs.count) / result.wallSeconds),
                 String(format: "%.2f", m / baseMedian), String(format: "%.2f", p / baseMedian),
                 mib(result.service.hwmKiB), String(result.service.threads), String(result.service.fds),
                 String(result.failures.count + result.unfinished)]
    print(zip(cells, header).map { pad($0, $1.1) }.joined())
}
// Issue 17's goals for the largest wave (no thread per session): its
// throughput against the best wave's, peak RSS, threads against the cores,
// descriptors per exchange in flight above the settled baseline.
if let largest = results.max(by: { $0.inFlight < $1.inFlight }), results.count > 1 {
    func rate(_ result: WaveResult) -> Double { Double(result.durationsMs.count) / max(result.wallSeconds, 1e-9) }
    let best = results.map(rate).max() ?? 0
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let extraFDs = Double(largest.service.fds - baseline.fds) / Double(largest.inFlight)
    print("")
    print("at \(largest.inFlight) in flight (goals in parentheses):")
    print(String(format: "  throughput ÷ the best wave's        %6.2f   (at least 0.9)", rate(largest) / max(best, 1e-9)))
    print(String(format: "  peak RSS MiB                        %6.1f   (at most 64)", Double(largest.service.hwmKiB) / 1024))
    print(String(format: "  peak threads                        %6d   (at most 2 × %d cores + 8 = %d)", largest.service.threads, cores, 2 * cores + 8))
    print(String(format: "  fds per exchange in flight          %6.2f   (at most 3; above the settled baseline of %d)", extraFDs, baseline.fds))
}
print("")
print("service kxoverd (pid \(servicePID))   RSS MiB  VmHWM MiB  threads  fds")
func row(_ label: String, _ s: ProcSample) {
    print(pad(label, 36) + pad(mib(s.rssKiB), 9) + pad(mib(s.hwmKiB), 11) + pad(String(s.threads), 9) + String(s.fds))
}
row("idle, before the warm-up", idle)
row("baseline (after warm-up, settled)", baseline)
for (seconds, sample) in after { row(String(format: "%.1f s after the last wave", seconds), sample) }
if let returned {
    let last = after.last!.sample
    let below = last.threads < baseline.threads || last.fds < baseline.fds
    print(String(format: "threads and fds back to the baseline %.2f s after the last wave", returned)
          + (below ? " (BELOW it: \(last.threads) threads, \(last.fds) fds; something the baseline had is gone)" : ""))
} else {
    print("threads and fds NOT back to the baseline 20 s after the last wave")
}
if probe.failures.isEmpty && probe.unfinished == 0 {
    print("after the waves the service still crosses: \(probeCount) of \(probeCount) exchanges one after another, median \(String(format: "%.1f", median(probe.durationsMs.sorted()))) ms")
} else {
    print("after the waves the service crosses NO MORE: \(probe.durationsMs.count) of \(probeCount) exchanges ok; \(probe.failures.first.map { "\($0.realm): \($0.error)" } ?? "unfinished")")
}
if otherZoneEvery > 0 {
    // Parsed by scripts/e2e-flood: one line per zone.
    let baseMs = median(results[0].durationsMs.sorted())
    for (zone, other) in [("TEST", false), ("OTHER.TEST", true)] {
        let mine = outcomes.filter { $0.other == other }
        let ok = mine.filter(\.ok).map(\.ms).sorted()
        print("zone \(zone): \(ok.count) of \(mine.count) exchanges after the first wave crossed, median "
              + String(format: "%.1f ms, ratio to the first wave's median %.2f", median(ok), median(ok) / baseMs))
    }
}
print("")
print("this process (simulated clients)   RSS MiB  VmHWM MiB  threads  fds")
row("baseline", myBaseline)
for result in results {
    row("peak, \(result.inFlight) in flight", result.me)
}
if let myAfter { row("after the waves", myAfter) }
print("samples per wave (10 ms): \(results.map { String($0.samples) }.joined(separator: ", "))")

var failed = !probe.failures.isEmpty || probe.unfinished > 0
for result in results where !result.failures.isEmpty || result.unfinished > 0 || result.serviceLost {
    failed = true
    print("")
    print("\(result.inFlight) in flight: \(result.failures.count) failed, \(result.unfinished) unfinished after \(Int(waveBound)) s\(result.serviceLost ? ", the service kxoverd vanished" : "")")
    var reasons: [String: Int] = [:]
    for failure in result.failures {
        // Group by reason without the realm-specific parts.
        var reason = failure.error
        if let range = reason.range(of: #"after \d+ ms: "#, options: .regularExpression) { reason.removeSubrange(range) }
        reason = reason.replacingOccurrences(of: #"\d{4}"#, with: "NNNN", options: .regularExpression)
        reasons[reason, default: 0] += 1
    }
    for (reason, n) in reasons.sorted(by: { $0.value > $1.value }) { print("  \(n)x \(reason)") }
    for failure in result.failures.prefix(5) { print("  e.g. \(failure.realm): \(failure.error)") }
}
try? (succeeded.joined(separator: "\n") + "\n").write(toFile: "\(outDir)/succeeded.txt", atomically: true, encoding: .utf8)
poolClients.forEach { $0.close() }
poolServer.shutdown(timeout: 5)
exit(failed ? 1 : 0)
