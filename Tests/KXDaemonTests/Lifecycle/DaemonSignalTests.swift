import Foundation
import Glibc
import KXTestSupport
import Testing

/// kxoverd's signals, the built executable against the FRONT.TEST realm of
/// the `kxoverd -n` tests: SIGHUP refuses a changed set of realms and keeps
/// running; a second SIGTERM ends the drain at once.
@Suite("kxoverd signals")
struct DaemonSignalTests {
    /// A running kxoverd; its DNS forwarder is a UDP socket that never
    /// answers, so an exchange waits in its DNS stage for as long as a test needs.
    final class Running {
        let dir: String
        let config: String
        let frontPort: UInt16
        let dnsPort: UInt16
        let process: TestProcess
        private let silentDNS: Int32

        init(extra: String = "") throws {
            let world = CheckOnlyTests.World.shared
            dir = world.dir + "/signals-" + UUID().uuidString.prefix(8)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let ports = try TestProcess.run(["scripts/realm", "free-ports", "2"]).split(separator: "\n").compactMap { UInt16($0) }
            guard ports.count == 2 else { throw TestFailure("no free ports") }
            frontPort = ports[0]
            dnsPort = ports[1]
            let dns = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            silentDNS = dns
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = ports[1].bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(dns, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard bound else { throw TestFailure("bind 127.0.0.1:\(ports[1]): errno \(errno)") }
            config = dir + "/kxover.conf"
            try Self.text(realms: [world.realm.realm], frontPort: frontPort, dnsPort: ports[1], dir: dir, extra: extra)
                .write(toFile: config, atomically: true, encoding: .utf8)
            process = try TestProcess([TestProcess.builtExecutable("kxoverd"), "-c", config])
            guard waitFor({ self.process.output.contains("kxoverd ready") }) else {
                throw TestFailure("kxoverd did not start:\n\(process.output)")
            }
        }

        deinit {
            close(silentDNS)
            try? FileManager.default.removeItem(atPath: dir)
        }

        static func text(realms: [String], frontPort: UInt16, dnsPort: UInt16, dir: String, extra: String) -> String {
            let world = CheckOnlyTests.World.shared
            let sections = realms.map { realm in """
                    \(realm) = {
                        kdc_host = kdc.front.test
                        certificate = \(world.dir)/kdc.crt
                        private_key = \(world.dir)/kdc.key
                        kadm5_mode = local
                        kdc_profile = \(world.kdcProfile)
                        krb5_config = \(world.realm.dir)/krb5.conf
                    }
                """ }
            return """
                [kxoverd]
                    listen = 127.0.0.1:\(frontPort)
                    backend_kdc = 127.0.0.1:\(world.realm.kdcPort)
                    dns_trust_anchor = \(CheckOnlyTests.trustAnchor)
                    dns_forward = 127.0.0.1@\(dnsPort)
                    dns_option = local-zone: test. transparent
                    dns_timeout = 60
                    pid_file = \(dir)/kxoverd.pid
                    kxover_user = nobody
                \(extra)
                [realms]
                \(sections.joined(separator: "\n"))

                """
        }

        var pid: pid_t? {
            (try? String(contentsOfFile: dir + "/kxoverd.pid", encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }

        func signal(_ number: Int32) throws {
            guard let pid else { throw TestFailure("no pid file") }
            kill(pid, number)
        }

        /// Polls `condition` (the daemon's log, its exit) for at most `seconds`.
        func waitFor(_ condition: () -> Bool, seconds: Double = 20) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while !condition() {
                if Date() > deadline || process.hasExited && !condition() { return condition() }
                usleep(20_000)
            }
            return true
        }

        /// A TGS-REQ to FRONT.TEST for krbtgt/OTHER.TEST over UDP: the
        /// crossover trigger, held while its exchange waits for DNS.
        func askForARealmNeverMet() throws {
            let request = EngineBench.tgsRequest(realm: CheckOnlyTests.World.shared.realm.realm, sname: ["krbtgt", "OTHER.TEST"])
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = frontPort.bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let sent = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, request, request.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard sent == request.count else { throw TestFailure("sendto: errno \(errno)") }
        }
    }

    @Test func aReloadThatChangesTheSetOfRealmsIsRefused() throws {
        let daemon = try Running()
        let world = CheckOnlyTests.World.shared
        let text = Running.text(realms: [world.realm.realm, "SECOND.TEST"], frontPort: daemon.frontPort, dnsPort: daemon.dnsPort, dir: daemon.dir, extra: "")
        try text.write(toFile: daemon.config, atomically: true, encoding: .utf8)
        try daemon.signal(SIGHUP)
        #expect(daemon.waitFor { daemon.process.output.contains("SIGHUP: reload rejected, still running with the previous configuration") },
                "\(daemon.process.output)")
        #expect(daemon.process.output.contains("SIGHUP: reload rejected, still running with the previous configuration: \(daemon.config): "
            + "the set of realms changed (FRONT.TEST → FRONT.TEST, SECOND.TEST): restart kxoverd for that"), "\(daemon.process.output)")
        #expect(!daemon.process.output.contains("reloaded"))
        #expect(!daemon.process.hasExited, "still running")
        try daemon.signal(SIGTERM)
        #expect(daemon.waitFor { daemon.process.hasExited })
        #expect(daemon.process.exitCode == 0, "\(daemon.process.output)")
    }

    /// The first SIGTERM drains (for up to 2 minutes here); the second
    /// abandons the running exchange and exits at once.
    @Test func aSecondSIGTERMStopsTheDrain() throws {
        let daemon = try Running(extra: "    drain_timeout = 2m")
        try daemon.askForARealmNeverMet()
        #expect(daemon.waitFor { daemon.process.output.contains("crossover FRONT.TEST → OTHER.TEST") }, "\(daemon.process.output)")
        try daemon.signal(SIGTERM)
        #expect(daemon.waitFor { daemon.process.output.contains("SIGTERM: draining 1 exchange(s) for up to 120 s") }, "\(daemon.process.output)")
        #expect(!daemon.process.hasExited, "the first SIGTERM drains")
        try daemon.signal(SIGTERM)
        #expect(daemon.waitFor({ daemon.process.hasExited }, seconds: 30), "\(daemon.process.output)")
        #expect(daemon.process.output.contains("SIGTERM again: abandoning 1 exchange(s) now"), "\(daemon.process.output)")
        #expect(daemon.process.exitCode == 0, "\(daemon.process.output)")
        // Abandoned, not finished by itself (the silent DNS gives up after seconds).
        #expect(daemon.process.output.contains("kx1 failed FRONT.TEST>OTHER.TEST: CANCELLED"), "\(daemon.process.output)")
        #expect(!daemon.process.output.contains("drained; stopping"), "\(daemon.process.output)")
    }
}
