import ArgumentParser
import Foundation
import KXDaemon
import KXOver

struct Cross: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run (or, with --dry-run, rehearse) a crossover from a local realm to REALM now.",
        discussion: """
            --dry-run walks DNSSEC, TCP, STARTTLS, the TLS 1.3 handshake with DANE and the certificate \
            realm checks, then stops before KX-REQ: neither KDB is written. Without it the whole exchange \
            runs and the key is written to both KDBs, as kxoverd would do on a user's request. Uses the \
            local realm's kdc_host, certificate and private_key from the configuration.
            """)

    @OptionGroup var options: ConfigOptions

    @Argument(help: "The remote realm, e.g. SERVICE.EXAMPLE.")
    var remote: String

    @Flag(help: "Stop before KX-REQ; write nothing.")
    var dryRun = false

    @Option(name: .customLong("debug-stop-at-stage"),
            help: ArgumentHelp("For tests: stop (SIGSTOP) as the exchange enters this stage, e.g. C6.", visibility: .hidden))
    var debugStopAtStage: String?

    func run() throws {
        let configuration = try options.load()
        guard let local = options.realm ?? (configuration.realms.count == 1 ? configuration.realms.keys.first : nil) else {
            throw CLIError("several realms are configured; name the local one with --realm")
        }
        let rehearsal: CrossoverRehearsal
        // Each step as it happens: a write per line, not print's buffer, so
        // a pipe or a file sees a step that hangs before the step after it.
        let output: (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
        do { rehearsal = try CrossoverRehearsal(configuration: configuration, localRealm: local, output: output) }
        catch let error as ConfigurationError { throw CLIError(error.description) }
        catch { throw CLIError("\(error)") }
        var failed = false
        if dryRun {
            failed = rehearsal.dryRun(to: remote) != nil
        } else if case .failure = rehearsal.cross(to: remote, stopAtStage: debugStopAtStage) {
            failed = true
        }
        if failed { throw ExitCode(1) }
    }
}
