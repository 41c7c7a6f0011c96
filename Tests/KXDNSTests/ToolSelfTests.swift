import Testing

/// The test infrastructure checks itself: throw-away MIT realms and the
/// signed zones with their certificates.
@Suite("test infrastructure self-tests")
struct ToolSelfTests {
    @Test func realmScript() throws {
        let output = try TestZone.run(["scripts/realm", "selftest"])
        #expect(output.contains(" passed, 0 failed"), "\(output)")
    }

    @Test func dnsZoneScript() throws {
        let output = try TestZone.run(["scripts/dnszone", "selftest"])
        #expect(output.contains(" passed, 0 failed"), "\(output)")
    }
}
