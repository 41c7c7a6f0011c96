import Foundation
import KXKDB
import KXOver

/// Runs a command and collects its output; never inherits our stdout.
struct Command {
    struct Result {
        let status: Int32
        let out: String
        let err: String
        var ok: Bool { status == 0 }
        var text: String { out + err }
    }

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Test threads run with signals blocked, and a child inherits the mask:
    /// a krb5kdc started that way would ignore SIGTERM. Spawn unblocked.
    static func spawnWithSignalsUnblocked(_ process: Process) throws {
        var all = sigset_t(), saved = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_UNBLOCK, &all, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        try process.run()
    }

    @discardableResult
    static func run(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = repoRoot
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try spawnWithSignalsUnblocked(process)
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Read both pipes concurrently so neither fills up.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, out: String(decoding: outData, as: UTF8.self),
                      err: String(decoding: errData, as: UTF8.self))
    }
}

/// Two throw-away MIT realms on loopback (scripts/realm), destroyed on deinit:
/// CLIENT.TEST with alice, SERVICE.TEST with two host services in a keytab.
final class TestRealms: @unchecked Sendable {
    let dir: String
    let client = "CLIENT.TEST"
    let service = "SERVICE.TEST"
    var krb5Config: String { dir + "/krb5.conf" }
    let alicePassword = "alice-Pw-1"

    init(kadmind: Bool = false) throws {
        // scripts/test points KXOVER_TEST_TMP at a folder it sweeps afterwards,
        // so even a crashed test run leaves no KDC behind.
        let base = ProcessInfo.processInfo.environment["KXOVER_TEST_TMP"] ?? NSTemporaryDirectory()
        dir = base + "/kxkdb-" + UUID().uuidString.prefix(8).lowercased()
        // Ports are picked free but bound moments later; a parallel test may
        // take one in between (scripts/realm notices). Then start over on new ones.
        for attempt in 1...3 {
            do {
                let ports = try Command.run(["scripts/realm", "free-ports", "6"]).out.split(separator: "\n").map(String.init)
                guard ports.count == 6 else { throw TestFailure("no free ports") }
                try realm("init", dir, client, "--kdc-port", ports[0], "--kadmind-port", ports[1], "--kpasswd-port", ports[2])
                try realm("init", dir, service, "--kdc-port", ports[3], "--kadmind-port", ports[4], "--kpasswd-port", ports[5])
                try realm("start", dir, client, kadmind ? "--kadmind" : nil)
                try realm("start", dir, service)
                break
            } catch let failure as TestFailure where attempt < 3 && failure.description.contains("bound by another process") {
                _ = try? Command.run(["scripts/realm", "destroy", dir])
            }
        }
        try realm("addprinc", dir, client, "alice", "--pw", alicePassword)
        try realm("addprinc", dir, service, "host/svc.service.test", "--randkey")
        try realm("addprinc", dir, service, "host/svc2.service.test", "--randkey")
    }

    deinit {
        _ = try? Command.run(["scripts/realm", "destroy", dir])
    }

    func realm(_ arguments: String?...) throws {
        let result = try Command.run(["scripts/realm"] + arguments.compactMap { $0 })
        guard result.ok else { throw TestFailure("scripts/realm \(arguments.compactMap { $0 }.joined(separator: " ")): \(result.text)") }
    }

    func kadminLocal(_ realm: String, _ query: String) throws -> Command.Result {
        try Command.run(["scripts/realm", "kadmin", dir, realm, query])
    }

    func configuration(_ realm: String, mode: Kadm5Mode = .local) -> KadminConfiguration {
        switch mode {
        case .local:
            return KadminConfiguration(realm: realm, mode: .local, profileFiles: ["\(dir)/\(realm)/kdc.conf", krb5Config])
        case .remote:
            let port = (try? String(contentsOfFile: "\(dir)/\(realm)/realm.env", encoding: .utf8))?
                .split(separator: "\n").first { $0.hasPrefix("KADMIND_PORT=") }?.split(separator: "=").last.map(String.init) ?? "0"
            return KadminConfiguration(realm: realm, mode: .remote, profileFiles: [krb5Config], adminServer: "127.0.0.1:\(port)",
                                       adminPrincipal: "kxover/admin@\(realm)", keytab: "\(dir)/\(realm)/kxover-admin.keytab")
        }
    }

    /// A fresh credential cache per call: kinit alice, then kvno the service.
    /// On failure the result carries KRB5_TRACE output.
    func kinitAndKvno(_ services: [String], cache: String? = nil) throws -> Command.Result {
        let ccache = cache ?? "FILE:\(dir)/cc-\(UUID().uuidString.prefix(6))"
        let env = ["KRB5_CONFIG": krb5Config, "KRB5CCNAME": ccache, "KRB5_TRACE": "/dev/stderr"]
        if cache == nil {
            let kinit = try Command.run(["kinit", "alice@\(client)"], environment: env, stdin: alicePassword + "\n")
            guard kinit.ok else { return kinit }
        }
        return try Command.run(["kvno"] + services, environment: env)
    }

    func klist(cache: String) throws -> String {
        try Command.run(["klist", "-e"], environment: ["KRB5_CONFIG": krb5Config, "KRB5CCNAME": cache]).out
    }

    var crossoverPrincipal: Principal { .crossover(client: client, service: service) }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Key bytes for tests: a KeyMaterial filled from a seed byte, with the layout for `etypes`.
func testKeys(seed: UInt8, etypes: [Int32] = [18, 20]) -> (KeyMaterial, KeySchedule.Layout) {
    let layout = try! KeySchedule.Layout(consecutive: etypes)
    let material = KeyMaterial(count: layout.exportLength)
    material.withUnsafeMutableBytes { bytes in
        for i in 0..<bytes.count { bytes[i] = seed &+ UInt8(truncatingIfNeeded: i) }
    }
    return (material, layout)
}
