import Foundation
import KXDNS
import KXEventLoop
import KXOver
import KXTestSupport

/// The signed test zones (scripts/dnszone) with KDC certificates
/// (scripts/kdccert), started once per test process and stopped at exit.
final class TestZone: @unchecked Sendable {
    let dir: String
    let env: [String: String]

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let spec = """
        realm CLIENT.TEST kdc.client.test 17088 client
        realm SERVICE.TEST kdc.service.test 18088 service
        realm BOGUSSRV.TEST kdc.bogussrv.test 88 service bogus-srv
        realm BOGUSTLSA.TEST kdc.bogustlsa.test 88 service bogus-tlsa
        realm INSECURESRV.TEST kdc.insecuresrv.test 88 service insecure
        host svc.service.test SERVICE.TEST
        host tampered.service.test SERVICE.TEST bogus-txt
        host gone.service.test SERVICE.TEST nxdomain
        """

    /// Shared by every test in the process; started on first use (not in a
    /// `static let`, whose once-lock would also hold every other waiting test).
    static var shared: TestZone {
        lock.lock()
        defer { lock.unlock() }
        if let zone = started { return zone }
        let zone = try! TestZone()
        started = zone
        atexit { TestZone.started?.stop() }
        return zone
    }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var started: TestZone?

    init() throws {
        let base = ProcessInfo.processInfo.environment["KXOVER_TEST_TMP"] ?? NSTemporaryDirectory()
        dir = base + "/kxdns-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.run(["scripts/kdccert", dir, "client", "--host", "kdc.client.test", "--realm", "CLIENT.TEST"])
        try Self.run(["scripts/kdccert", dir, "service", "--host", "kdc.service.test", "--realm", "SERVICE.TEST"])
        try Self.spec.write(toFile: dir + "/zone.spec", atomically: true, encoding: .utf8)
        try Self.run(["scripts/dnszone", "start", dir, dir + "/zone.spec"])
        let text = try String(contentsOfFile: dir + "/dns.env", encoding: .utf8)
        var env: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            env[String(line[..<eq])] = String(line[line.index(after: eq)...]).trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
        }
        self.env = env
    }

    func stop() {
        _ = try? Self.run(["scripts/dnszone", "stop", dir])
        try? FileManager.default.removeItem(atPath: dir)
    }

    var configuration: ResolverConfiguration {
        ResolverConfiguration(trustAnchors: [env["TRUST_ANCHOR"]!], forwarders: [env["DNS_STUB"]!],
                              options: [.init("local-zone:", "test. transparent")], queryTimeout: 5)
    }

    func tlsaRecord(_ cert: String) throws -> String {
        try String(contentsOfFile: "\(dir)/\(cert).tlsa-ee", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a command to completion (KXTestSupport's posix_spawn runner: test
    /// threads block signals, and Foundation's Process can hang waiting here).
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let process = try TestProcess(arguments)
        process.waitForExit()
        guard process.succeeded else { throw DNSFailure.resolver(process.output) }
        return process.output
    }
}

/// Runs `body` with a fresh loop and resolver, driving the loop until `done`.
func withResolver(_ configuration: ResolverConfiguration = TestZone.shared.configuration,
                  _ body: (UnboundResolver, EventLoop) throws -> Void) throws {
    let loop = try EventLoop()
    let resolver = try UnboundResolver(configuration: configuration, loop: loop)
    try body(resolver, loop)
}

/// Waits on `loop` for a completion-filled value.
func waitFor<T>(_ loop: EventLoop, timeout: Double = 10, _ start: (@escaping (T) -> Void) -> Void) -> T? {
    var value: T?
    start { value = $0 }
    _ = loop.run(until: { value != nil }, timeout: timeout)
    return value
}
