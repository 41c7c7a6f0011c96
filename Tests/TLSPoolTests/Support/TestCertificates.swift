import TLSPoolHarness
import KXEventLoop
import KXOver
import Foundation
@testable import TLSPool

/// Removed when the test process exits (a static never deinitialises).
private let certificateDirectoryToRemove = Mutex<String?>(nil)

/// KDC certificates made once per test run with scripts/kdccert (spec
/// kxover §4.2 profile: SAN dNSName + id-pkinit-san krbtgt/REALM@REALM).
struct TestCertificates: Sendable {
    let dir: String

    /// Shared by every test; made on first use.
    static let shared: Result<TestCertificates, TestFailure> = Result { try TestCertificates() }.mapError { $0 as? TestFailure ?? TestFailure("\($0)") }

    static func get() throws -> TestCertificates { try shared.get() }

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    private init() throws {
        let base = ProcessInfo.processInfo.environment["KXOVER_TEST_TMP"] ?? NSTemporaryDirectory()
        dir = base + "/tlspool-certs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        certificateDirectoryToRemove.withLock { $0 = dir }
        atexit {
            if let dir = certificateDirectoryToRemove.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: dir) }
        }
        try kdccert("kdc-a", "--host", "kdc.a.test", "--realm", "A.TEST")
        try kdccert("kdc-b", "--host", "kdc.b.test", "--realm", "B.TEST")
        try kdccert("ca", "--ca-root")
        try kdccert("kdc-c", "--host", "kdc.c.test", "--realm", "C.TEST", "--ca", "ca")
        try kdccert("kdc-expired", "--host", "kdc.x.test", "--realm", "X.TEST", "--expired")
        try kdccert("kdc-plain", "--host", "kdc.n.test", "--no-principal")
        // DANE-TA needs the issuer in the chain the peer sends.
        let chain = try String(contentsOfFile: path("kdc-c.crt"), encoding: .utf8) + String(contentsOfFile: path("ca.crt"), encoding: .utf8)
        try chain.write(toFile: path("kdc-c-chain.crt"), atomically: true, encoding: .utf8)
    }

    func path(_ file: String) -> String { dir + "/" + file }

    /// The DER of a PEM file holding one certificate.
    func der(_ file: String) throws -> [UInt8] {
        let pem = try String(contentsOfFile: path(file), encoding: .utf8)
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let bytes = Data(base64Encoded: body) else { throw TestFailure("\(file) is not PEM") }
        return Array(bytes)
    }

    func identity(_ name: String, host: String, chain: Bool = false) -> TLSPoolConfiguration.Identity {
        .init(localID: host, certificateFile: path(chain ? "\(name)-chain.crt" : "\(name).crt"), keyFile: path("\(name).key"))
    }

    func tlsa(_ name: String, kind: String = "ee") throws -> TLSARecord {
        let text = try String(contentsOfFile: path("\(name).tlsa-\(kind)"), encoding: .utf8)
        guard let record = TLSARecord(presentation: text) else { throw TestFailure("bad TLSA in \(name).tlsa-\(kind)") }
        return record
    }

    /// DNSSEC-secure DANE-EE for every KDC host (DANE-TA for kdc.c.test).
    func secureResolver(overriding overrides: [String: TLSALookup] = [:]) throws -> StaticTLSAResolver {
        var answers: [String: TLSALookup] = [
            "kdc.a.test": .secure([try tlsa("kdc-a")]),
            "kdc.b.test": .secure([try tlsa("kdc-b")]),
            "kdc.c.test": .secure([try tlsa("ca", kind: "ta")]),
            "kdc.x.test": .secure([try tlsa("kdc-expired")]),
            "kdc.n.test": .secure([try tlsa("kdc-plain")]),
        ]
        for (host, answer) in overrides { answers[host] = answer }
        return StaticTLSAResolver(answers)
    }

    private func kdccert(_ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.repoRoot + "/scripts/kdccert")
        process.arguments = [dir] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("kdccert \(arguments.joined(separator: " ")): \(text)") }
    }
}

/// Two embedded pools (client KDC A, server KDC B by default) on one loop.
final class PoolPair {
    let loop: EventLoop
    let clientPool: TLSPoolServer
    let serverPool: TLSPoolServer
    let harness: LoopbackHandshakes
    var log: [String] { logs.withLock { $0 } }
    private let logs = Mutex<[String]>([])

    init(client: [TLSPoolConfiguration.Identity]? = nil, server: [TLSPoolConfiguration.Identity]? = nil,
         resolver: (any TLSAResolver)? = nil, configure: (inout TLSPoolConfiguration) -> Void = { _ in }) throws {
        let certs = try TestCertificates.get()
        let resolver = try resolver ?? certs.secureResolver()
        let sink = logs
        func configuration(_ identities: [TLSPoolConfiguration.Identity]) -> TLSPoolConfiguration {
            var configuration = TLSPoolConfiguration(identities: identities, tlsaResolver: resolver)
            configuration.log = { message in sink.withLock { $0.append(message) } }
            configure(&configuration)
            return configuration
        }
        loop = try EventLoop()
        clientPool = try TLSPoolServer(configuration: configuration(client ?? [certs.identity("kdc-a", host: "kdc.a.test")]))
        serverPool = try TLSPoolServer(configuration: configuration(server ?? [certs.identity("kdc-b", host: "kdc.b.test")]))
        harness = try LoopbackHandshakes(loop: loop, clientPool: clientPool, serverPool: serverPool)
    }

    func handshake(client: StartTLSParameters = .kxoverClient(localID: "kdc.a.test", remoteID: "kdc.b.test"),
                   server: StartTLSParameters = .kxoverServer(),
                   localIDHandler: StartTLS.LocalIDHandler? = { proposed, _ in .accept(localID: proposed) }) throws -> LoopbackHandshakes.Outcome {
        try harness.handshake(client: client, server: server, localIDHandler: localIDHandler, timeout: 10)
    }

    /// Runs the loop until `condition` or the timeout.
    @discardableResult
    func run(until condition: () -> Bool, timeout: Double = 5) -> Bool {
        loop.run(until: condition, timeout: timeout)
    }

    func shutdown() {
        harness.clientSide.close()
        harness.serverSide.close()
        clientPool.shutdown()
        serverPool.shutdown()
    }
}



extension PoolPair {
    /// Exported bytes (tests only: production code never copies key material out).
    func export(_ session: TLSPoolSession, label: String = KeySchedule.exporterLabel, context: [UInt8]?, length: Int = 32) throws -> [UInt8] {
        var result: Result<KeyMaterial, TLSPoolError>?
        session.exportKey(label: label, context: context, length: length) { result = $0 }
        guard run(until: { result != nil }) else { throw TestFailure("key export timed out") }
        return try result!.get().withUnsafeBytes { Array($0) }
    }

    func exportError(_ session: TLSPoolSession, label: String = KeySchedule.exporterLabel, context: [UInt8]?, length: Int = 32) -> TLSPoolError? {
        var result: Result<KeyMaterial, TLSPoolError>?
        session.exportKey(label: label, context: context, length: length) { result = $0 }
        run(until: { result != nil })
        if case .failure(let error)? = result { return error }
        return nil
    }

    func checkRealm(_ session: TLSPoolSession, _ side: CertificateSide, _ realm: String) throws -> Bool {
        var result: Result<Bool, TLSPoolError>?
        session.checkKDCRealm(side, realm: realm) { result = $0 }
        guard run(until: { result != nil }) else { throw TestFailure("INFO check timed out") }
        return try result!.get()
    }
}

/// Reads until EOF or `count` bytes, with a deadline (plaintext sockets are blocking).
func readBytes(_ fd: Int32, count: Int, timeout: Double = 5) -> [UInt8] {
    var collected: [UInt8] = []
    let deadline = Date().addingTimeInterval(timeout)
    while collected.count < count {
        let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
        guard left > 0, Descriptors.wait(fd, for: Int16(POLLIN), timeoutMS: left) else { break }
        var buffer = [UInt8](repeating: 0, count: count - collected.count)
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        collected += buffer[0..<n]
    }
    return collected
}

/// True when `fd` reports end of stream within `timeout`.
func seesEndOfStream(_ fd: Int32, timeout: Double = 5) -> Bool {
    guard Descriptors.wait(fd, for: Int16(POLLIN), timeoutMS: Int32(timeout * 1000)) else { return false }
    var byte: UInt8 = 0
    return read(fd, &byte, 1) == 0
}
