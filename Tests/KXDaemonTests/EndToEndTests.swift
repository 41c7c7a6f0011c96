import Foundation
import Testing

/// The mission, end to end with real everything (scripts/e2e): two krb5kdc,
/// the signed zone on loopback, two kxoverd, TLS 1.3 with DANE. The happy
/// path and six refusals, each asserting what the user and both KDBs see.
@Suite("end to end")
struct EndToEndTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// posix_spawn with an empty signal mask and waitpid (test threads block
    /// signals; the daemons started below must hear SIGTERM).
    static func run(_ program: String) -> (status: Int32, output: String) {
        let output = NSTemporaryDirectory() + "kxover-e2e-" + UUID().uuidString
        defer { unlink(output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let path = repoRoot.path + "/" + program
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, path, &actions, &attributes, argv, environ) == 0 else { return (-1, "spawn failed") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return ((status >> 8) & 0xFF, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    @Test func crossoverBetweenTwoMITRealms() {
        let (status, output) = Self.run("scripts/e2e")
        #expect(status == 0, "\(output)")
        #expect(output.contains("PASS: the first kvno for a service in a realm never met succeeds"), "\(output)")
        #expect(output.contains(" passed, 0 failed"), "\(output)")
        #expect(!output.contains("FAIL:"), "\(output)")
    }
}
