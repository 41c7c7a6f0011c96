import Foundation
import KXTestSupport
import Testing

/// Packaging (scripts/check-packaging): the man pages render cleanly and name
/// every option, subcommand and configuration relation the code has;
/// scripts/install stages the debug binaries, units, man pages and examples
/// idempotently; systemd-analyze accepts both units. About a second.
@Suite("packaging")
struct PackagingTests {
    @Test func unitsManPagesAndInstall() throws {
        let process = try TestProcess(["scripts/check-packaging"])
        process.waitForExit()
        let output = process.output
        #expect(process.succeeded, "\(output)")
        #expect(output.contains(" passed, 0 failed"), "\(output)")
        #expect(!output.contains("FAIL:"), "\(output)")
    }
}
