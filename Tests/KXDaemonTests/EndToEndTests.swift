import Foundation
import KXTestSupport
import Testing

/// The mission, end to end with real everything (scripts/e2e): two krb5kdc,
/// the signed zone on loopback, two kxoverd, TLS 1.3 with DANE. The happy
/// path and six refusals, each asserting what the user and both KDBs see.
@Suite("end to end")
struct EndToEndTests {
    @Test func crossoverBetweenTwoMITRealms() throws {
        let process = try TestProcess(["scripts/e2e"])
        process.waitForExit()
        let output = process.output
        #expect(process.succeeded, "\(output)")
        #expect(output.contains("PASS: the first kvno for a service in a realm never met succeeds"), "\(output)")
        #expect(output.contains(" passed, 0 failed"), "\(output)")
        #expect(!output.contains("FAIL:"), "\(output)")
    }
}
