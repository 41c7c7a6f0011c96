import Foundation
@testable import KXDaemon
import KXKDB
import KXOver
import Testing

@Suite("metrics, control socket and operations configuration")
struct ObservabilityTests {
    @Test func prometheusTextFormat() {
        let metrics = Metrics()
        metrics.declare("demo_total", .counter, "Demo events.")
        metrics.declare("demo_seconds", .histogram, "Demo durations.")
        metrics.increment("demo_total", [("side", "client"), ("outcome", "success")])
        metrics.increment("demo_total", [("side", "client"), ("outcome", "success")])
        metrics.increment("demo_total", [("why", "say \"no\"\\\n")])
        metrics.observe("demo_seconds", [("side", "server")], seconds: 0.02)
        metrics.observe("demo_seconds", [("side", "server")], seconds: 40)
        let text = metrics.render()
        #expect(text.contains("# HELP demo_total Demo events.\n# TYPE demo_total counter\n"))
        #expect(text.contains("demo_total{side=\"client\",outcome=\"success\"} 2\n"))
        #expect(text.contains("demo_total{why=\"say \\\"no\\\"\\\\\\n\"} 1\n"))
        #expect(text.contains("demo_seconds_bucket{side=\"server\",le=\"0.01\"} 0\n"))
        #expect(text.contains("demo_seconds_bucket{side=\"server\",le=\"0.025\"} 1\n"))
        #expect(text.contains("demo_seconds_bucket{side=\"server\",le=\"30\"} 1\n"))
        #expect(text.contains("demo_seconds_bucket{side=\"server\",le=\"+Inf\"} 2\n"))
        #expect(text.contains("demo_seconds_sum{side=\"server\"} 40.02\n"))
        #expect(text.contains("demo_seconds_count{side=\"server\"} 2\n"))
        #expect(metrics.value("demo_total", [("side", "client"), ("outcome", "success")]) == 2)
    }

    @Test func dnsAnswersAreClassified() {
        let metrics = DaemonMetrics()
        func answer(_ security: DNSSecurity, _ rdata: [[UInt8]]) -> Result<DNSAnswer, DNSFailure> {
            .success(DNSAnswer(name: "x.test", type: .srv, security: security, nameDoesNotExist: rdata.isEmpty, rdata: rdata))
        }
        metrics.dnsAnswer(.srv, answer(.secure, [[1]]))
        metrics.dnsAnswer(.srv, answer(.secure, []))
        metrics.dnsAnswer(.srv, answer(.insecure, [[1]]))
        metrics.dnsAnswer(.srv, answer(.bogus(reason: "sig expired"), []))
        metrics.dnsAnswer(.srv, .failure(.timeout(seconds: 5)))
        metrics.dnsAnswer(.srv, .failure(.cancelled))   // not an answer: not counted
        for kind in ["secure", "nxdomain", "insecure", "bogus", "failure"] {
            #expect(metrics.registry.value("kxover_dns_answers_total", [("type", "SRV"), ("class", kind)]) == 1, "\(kind)")
        }
    }

    @Test func controlCommands() {
        func parse(_ text: String) -> String {
            switch ControlServer.parse(Array(text.utf8)) {
            case .incomplete: return "incomplete"
            case .complete(let command): return "ok " + command
            case .malformed(let reason): return "bad " + reason
            }
        }
        #expect(parse("status") == "incomplete")
        #expect(parse("status\n") == "ok status")
        #expect(parse(" status json \n") == "ok status json")
        #expect(parse("metrics\n") == "ok metrics")
        #expect(parse("reboot\n").hasPrefix("bad unknown command \"reboot\""))
        #expect(ControlServer.parse([0xFF, 0xFE, 0x0A]).isMalformed)
    }

    @Test func httpRequestLines() {
        func parse(_ text: String) -> String {
            switch MetricsEndpoint.parse(Array(text.utf8)) {
            case .incomplete: return "incomplete"
            case .complete(let path): return path
            case .malformed(let reason): return "bad " + reason
            }
        }
        #expect(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n") == "incomplete")
        #expect(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n") == "/metrics")
        #expect(parse("GET /metrics?x=1 HTTP/1.0\n\n") == "/metrics")
        #expect(parse("POST /metrics HTTP/1.1\r\n\r\n") == "!POST")
        #expect(parse("hello\r\n\r\n").hasPrefix("bad"))
        #expect(parse("GET /metrics SPDY/3\r\n\r\n").hasPrefix("bad"))
        let response = String(decoding: MetricsEndpoint.response(200, "OK", body: "a 1\n"), as: UTF8.self)
        #expect(response == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\nConnection: close\r\n\r\na 1\n")
    }

    func load(_ kxoverd: String, realm: String = "") throws -> Configuration {
        let path = NSTemporaryDirectory() + "kxover-ops-\(UUID().uuidString).conf"
        try "[kxoverd]\n\(kxoverd)\n[realms]\n    CLIENT.TEST = {\n        kdc_host = kdc.client.test\n\(realm)\n    }\n"
            .write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        return try Configuration.load(path: path)
    }

    @Test func operationsRelations() throws {
        let defaults = try load("    listen = 127.0.0.1:88")
        #expect(defaults.controlSocket == nil && defaults.metricsListen == nil)
        #expect(defaults.drainTimeout == 10 && defaults.keyCheckInterval == 600 && !defaults.allowShortKeyLifetime)
        #expect(defaults.realms["CLIENT.TEST"]?.kadmin.ticketLifetimeMargin == 600)
        let set = try load("""
                control_socket = /run/kxover/control.sock
                metrics_listen = 127.0.0.1:9749
                drain_timeout = 30s
                key_check_interval = 2m
            """)
        #expect(set.controlSocket == "/run/kxover/control.sock" && set.metricsListen == "127.0.0.1:9749")
        #expect(set.drainTimeout == 30 && set.keyCheckInterval == 120)
        #expect(set.realms["CLIENT.TEST"]?.kadmin.ticketLifetimeMargin == 120)
        #expect(defaults.maxExchangesInFlight == 256 && defaults.maxExchangesPerMinute == 600)
        let limits = try load("    max_exchanges_in_flight = 40\n    max_exchanges_per_minute = 90")
        #expect(limits.maxExchangesInFlight == 40 && limits.maxExchangesPerMinute == 90)
        #expect(throws: ConfigurationError.self) { try load("    max_exchanges_in_flight = 0") }
        #expect(throws: ConfigurationError.self) { try load("    max_exchanges_per_minute = many") }
        #expect(throws: ConfigurationError.self) { try load("    drain_timeout = 1h") }
        #expect(throws: ConfigurationError.self) { try load("    key_check_interval = 0") }
        #expect(throws: ConfigurationError.self) { try load("    key_check_interval = soon") }
    }

    @Test func shortKeyLifetimesOnlyWhenAskedFor() throws {
        do {
            _ = try load("", realm: "        key_lifetime = 30s")
            Issue.record("a 30 s key lifetime was accepted without allow_short_key_lifetime")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("allow_short_key_lifetime"))
        }
        let short = try load("    allow_short_key_lifetime = true", realm: "        key_lifetime = 30s")
        #expect(short.realms["CLIENT.TEST"]?.keyLifetime == 30)
        #expect(throws: ConfigurationError.self) { try load("    allow_short_key_lifetime = true", realm: "        key_lifetime = 5s") }
    }

    @Test func replicaSettings() throws {
        let remote = "        kadm5_mode = remote\n        admin_server = kdc1.test\n        admin_keytab = /k\n        krb5_config = /etc/krb5.conf"
        let plain = try load("", realm: remote)
        #expect(plain.realms["CLIENT.TEST"]?.replica == nil)
        let beside = try load("", realm: remote + "\n        replica_kdc_profile = /etc/krb5kdc/kdc.conf\n        replica_wait = 5s")
        let replica = try #require(beside.realms["CLIENT.TEST"]?.replica)
        #expect(replica.readOnly && replica.mode == .local && replica.profileFiles == ["/etc/krb5kdc/kdc.conf", "/etc/krb5.conf"])
        #expect(beside.realms["CLIENT.TEST"]?.replicaWait == 5)
        #expect(throws: ConfigurationError.self) { try load("", realm: remote + "\n        replica_kdc_profile = /x\n        replica_wait = 30s") }
        do {
            _ = try load("", realm: "        replica_kdc_profile = /etc/krb5kdc/kdc.conf")
            Issue.record("replica_kdc_profile accepted in local mode")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("replica_kdc_profile needs kadm5_mode = remote"))
        }
    }

    @Test func daemonProblemsNameBadOperationsSettings() throws {
        var configuration = try load("    listen = 127.0.0.1:88")
        configuration.metricsListen = "not an address"
        configuration.controlSocket = "relative.sock"
        let problems = configuration.daemonProblems().joined(separator: "\n")
        #expect(problems.contains("metrics_listen \"not an address\""))
        #expect(problems.contains("control_socket relative.sock must be an absolute path"))
    }
}

extension RequestServer.Parse {
    var isMalformed: Bool { if case .malformed = self { return true } else { return false } }
}
