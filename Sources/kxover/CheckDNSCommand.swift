import ArgumentParser
import Foundation
import KXDaemon
import KXDNS
import KXEventLoop
import KXOver

struct CheckDNS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-dns",
        abstract: "Walk the DNSSEC chain a crossover would walk, printing each lookup and its status.",
        discussion: """
            For a host: _kerberos TXT (walking up the domain), then as for its realm. For a realm: \
            _kerberos-tls._tcp SRV, then each KDC's AAAA/A and _88._tcp TLSA. TXT, SRV and TLSA must be \
            DNSSEC-secure; bogus answers are refused everywhere. Exit status 0 when a crossover would \
            proceed, 1 when it would be refused. Resolver settings come from [kxoverd] dns_* in the \
            configuration file when it exists, and from the options below.
            """)

    @Argument(help: "A host name (svc.example.org) or a realm (EXAMPLE.ORG).")
    var target: String

    @Option(name: .shortAndLong, help: "Configuration file (default: $KXOVER_CONFIG or /etc/kxover/kxover.conf, if present).")
    var config: String?

    @Option(name: .customLong("trust-anchor"), help: "A DS or DNSKEY record to trust (repeatable).")
    var trustAnchors: [String] = []

    @Option(name: .customLong("trust-anchor-file"), help: "A file of DS/DNSKEY records to trust (repeatable).")
    var trustAnchorFiles: [String] = []

    @Option(name: .customLong("forward"), help: "Send queries to this resolver, ADDRESS[@PORT] (repeatable).")
    var forwarders: [String] = []

    @Option(name: .customLong("unbound-option"), help: "An extra unbound option \"name: value\" (repeatable).")
    var options: [String] = []

    @Option(help: "Seconds before one lookup is given up.")
    var timeout: Double?

    func run() throws {
        var resolver = ResolverConfiguration.defaults
        let path = config ?? ProcessInfo.processInfo.environment["KXOVER_CONFIG"] ?? Configuration.defaultPath
        if config != nil || FileManager.default.fileExists(atPath: path) {
            do { resolver = try Configuration.load(path: path, requireRealms: false).resolver }
            catch let error as ConfigurationError { throw CLIError(error.description) }
        }
        if !trustAnchors.isEmpty || !trustAnchorFiles.isEmpty {
            resolver.trustAnchors = trustAnchors
            resolver.trustAnchorFiles = trustAnchorFiles
        }
        if !forwarders.isEmpty { resolver.forwarders = forwarders }
        for option in options {
            guard let colon = option.firstIndex(of: ":") else { throw CLIError("--unbound-option \"\(option)\" must be \"name: value\"") }
            resolver.options.append(.init(String(option[...colon]), String(option[option.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        if let timeout { resolver.queryTimeout = timeout }

        let loop = try EventLoop()
        let check: DNSCheck
        do { check = try DNSCheck(configuration: resolver, loop: loop) } catch { throw CLIError("resolver: \(error)") }
        check.run(target)
        let width = check.steps.map { "\($0.name) \($0.type)".count }.max() ?? 0
        for step in check.steps {
            let label = "\(step.name) \(step.type)"
            print("\(label.padding(toLength: width, withPad: " ", startingAt: 0))  \(step.outcome.padding(toLength: 8, withPad: " ", startingAt: 0))  \(step.detail)")
        }
        if let refusal = check.refusal {
            print("REFUSED: \(refusal)")
            throw ExitCode(1)
        }
        print("ok: a crossover to \(check.realm ?? target) would proceed (DNS checks only)")
    }
}
