import Foundation
import KXDaemon
import KXEventLoop
import KXOver

/// A throw-away MIT realm (scripts/realm) whose krb5kdc is the backend, with
/// alice (password, +preauth) and host/svc.front.test. Client profiles that
/// point the realm's KDC at a front end are written per test.
final class FrontEndTestRealm: @unchecked Sendable {
    let dir: String
    let realm = "FRONT.TEST"
    let kdcPort: UInt16
    let alicePassword = "alice-Front-1"
    let service = "host/svc.front.test"

    var backend: SocketAddress { try! SocketAddress(parsing: "127.0.0.1:\(kdcPort)") }

    /// One realm for every test that leaves its KDC running; destroyed at exit.
    static var shared: FrontEndTestRealm {
        lock.lock()
        defer { lock.unlock() }
        if let realm = started { return realm }
        let realm = try! FrontEndTestRealm()
        started = realm
        atexit { FrontEndTestRealm.started?.destroy() }
        return realm
    }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var started: FrontEndTestRealm?

    /// `kdcDefaults` lines go into the KDC profile's [kdcdefaults] before start.
    init(kdcDefaults: [String] = []) throws {
        // scripts/test sweeps KXOVER_TEST_TMP, so even a crashed run leaves no KDC behind.
        let base = ProcessInfo.processInfo.environment["KXOVER_TEST_TMP"] ?? NSTemporaryDirectory()
        dir = base + "/kxfe-" + UUID().uuidString.prefix(8).lowercased()
        let ports = try FrontEndTestProcess.run(["scripts/realm", "free-ports", "3"]).split(separator: "\n").compactMap { UInt16($0) }
        guard ports.count == 3 else { throw FrontEndTestFailure("no free ports") }
        kdcPort = ports[0]
        try FrontEndTestProcess.run(["scripts/realm", "init", dir, realm, "--kdc-port", "\(ports[0])",
                             "--kadmind-port", "\(ports[1])", "--kpasswd-port", "\(ports[2])"])
        if !kdcDefaults.isEmpty {
            let profile = "\(dir)/\(realm)/kdc.conf"
            let text = try String(contentsOfFile: profile, encoding: .utf8)
            let extra = kdcDefaults.map { "    \($0)\n" }.joined()
            try text.replacingOccurrences(of: "[kdcdefaults]\n", with: "[kdcdefaults]\n" + extra)
                .write(toFile: profile, atomically: true, encoding: .utf8)
        }
        try startKDC()
        try FrontEndTestProcess.run(["scripts/realm", "addprinc", dir, realm, "alice", "--pw", alicePassword])
        try FrontEndTestProcess.run(["scripts/realm", "addprinc", dir, realm, service, "--randkey"])
    }

    func startKDC() throws { try FrontEndTestProcess.run(["scripts/realm", "start", dir, realm]) }
    func stopKDC() throws { try FrontEndTestProcess.run(["scripts/realm", "stop", dir, realm]) }

    func destroy() {
        _ = try? FrontEndTestProcess.run(["scripts/realm", "destroy", dir])
    }

    /// A client profile whose only KDC for the realm is `kdc` (the front end).
    /// `tcpOnly` sets udp_preference_limit = 1, which makes MIT use TCP.
    func clientProfile(kdc: String, tcpOnly: Bool) throws -> String {
        let path = "\(dir)/client-\(UUID().uuidString.prefix(8)).conf"
        let text = """
            [libdefaults]
                dns_lookup_kdc = false
                dns_lookup_realm = false
                dns_canonicalize_hostname = false
                rdns = false
                kdc_timesync = 0
                udp_preference_limit = \(tcpOnly ? 1 : 1465)
            [realms]
                \(realm) = {
                    kdc = \(kdc)
                }
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// kinit alice, then kvno the service, through `kdc`, driving `loop`
    /// meanwhile. Returns both processes' output (with KRB5_TRACE).
    func kinitAndKvno(kdc: String, tcpOnly: Bool, loop: EventLoop) throws -> (ok: Bool, trace: String) {
        let profile = try clientProfile(kdc: kdc, tcpOnly: tcpOnly)
        let environment = ["KRB5_CONFIG": profile, "KRB5CCNAME": "FILE:\(profile).cc", "KRB5_TRACE": "/dev/stderr"]
        defer { unlink(profile); unlink(profile + ".cc") }
        let kinit = try FrontEndTestProcess.run(["kinit", "alice@\(realm)"], environment: environment,
                                        input: alicePassword + "\n", driving: loop)
        guard kinit.succeeded else { return (false, kinit.output) }
        let kvno = try FrontEndTestProcess.run(["kvno", "\(service)@\(realm)"], environment: environment, driving: loop)
        return (kvno.succeeded, kinit.output + kvno.output)
    }

    /// An AS-REQ for alice without pre-authentication; krb5kdc answers
    /// KRB-ERROR 25. A fresh nonce makes each one distinct.
    func asRequest(nonce: UInt32 = .random(in: 1...UInt32.max)) -> [UInt8] {
        BackendProbeRequest.asRequest(client: "alice", realm: realm, nonce: nonce,
                                      till: KerberosTime(secondsSinceEpoch: Int64(time(nil)) + 3600)!)
    }
}
