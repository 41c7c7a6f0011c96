import Foundation
import KXTestSupport
import Testing

/// Operating kxoverd with real everything (scripts/e2e-operations): status
/// over the control socket, Prometheus metrics, SIGHUP reloads under load, the
/// SIGTERM drain bound, and renewal and pruning of keys that live 30 seconds.
@Suite("operations end to end")
struct OperationsEndToEndTests {
    @Test func operatingKxoverd() throws {
        let process = try TestProcess(["scripts/e2e-operations"])
        process.waitForExit()
        let output = process.output
        #expect(process.succeeded, "\(output)")
        #expect(output.contains("PASS: renewal: a new kvno appears on the client side before the first key's till"), "\(output)")
        #expect(output.contains(" passed, 0 failed"), "\(output)")
        #expect(!output.contains("FAIL:"), "\(output)")
    }
}
