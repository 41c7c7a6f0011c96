import Foundation

/// A child process started with posix_spawn. Test threads block signals and
/// a child inherits the mask (a krb5kdc started that way ignores SIGTERM), so
/// the child gets an empty mask; Foundation's Process is avoided because its
/// wait can hang here. Output (stdout and stderr) goes to a file.
public final class TestProcess {
    public let arguments: [String]
    private let pid: pid_t
    private let outputPath: String
    private let inputPath: String?
    public private(set) var exitStatus: Int32?

    public static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// Starts `arguments` (a `scripts/...` name is taken from the repository),
    /// with `environment` added to ours and `input` as its stdin.
    public init(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws {
        self.arguments = arguments
        let base = NSTemporaryDirectory() + "kxfe-run-" + UUID().uuidString
        outputPath = base + ".out"
        inputPath = input.map { _ in base + ".in" }
        if let input, let inputPath { try input.write(toFile: inputPath, atomically: false, encoding: .utf8) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let program = arguments[0].hasPrefix("scripts/") ? Self.repoRoot + "/" + arguments[0] : arguments[0]
        let argv = (["/usr/bin/env", program] + arguments.dropFirst()).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, argv, envp)
        guard code == 0 else { throw TestFailure("posix_spawn \(arguments[0]): \(String(cString: strerror(code)))") }
        self.pid = pid
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            _ = waitForExit()
        }
        unlink(outputPath)
        if let inputPath { unlink(inputPath) }
    }

    /// True once the child has exited (reaps it without blocking).
    public var hasExited: Bool {
        if exitStatus != nil { return true }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { exitStatus = status }
        return exitStatus != nil
    }

    @discardableResult
    public func waitForExit() -> Int32 {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exitStatus = status
        return status
    }

    public var succeeded: Bool { exitStatus.map { $0 & 0x7F == 0 && ($0 >> 8) & 0xFF == 0 } ?? false }
    /// The exit code of a child that exited (not killed by a signal).
    public var exitCode: Int32? { exitStatus.flatMap { $0 & 0x7F == 0 ? ($0 >> 8) & 0xFF : nil } }

    /// The path of one of this package's executables: the test bundle lives
    /// in the build products folder beside them.
    public static func builtExecutable(_ name: String) -> String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent(name).path
    }
    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Runs to completion without a loop (scripts that need no front end).
    @discardableResult
    public static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let process = try TestProcess(arguments, environment: environment)
        process.waitForExit()
        guard process.succeeded else { throw TestFailure("\(arguments.joined(separator: " ")) failed:\n\(process.output)") }
        return process.output
    }
}

/// A test step that could not be carried out, with what the process said.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
