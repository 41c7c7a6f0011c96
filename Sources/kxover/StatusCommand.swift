import ArgumentParser
import Foundation
import KXDaemon

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the running kxoverd is doing: exchanges in flight, failure backoffs, recent outcomes.",
        discussion: """
            Asks kxoverd over its control socket ([kxoverd] control_socket in the configuration). \
            Exits 1 if the daemon cannot be reached.
            """)

    @Option(name: .shortAndLong, help: "Configuration file (krb5 profile syntax). Default: $KXOVER_CONFIG or /etc/kxover/kxover.conf.")
    var config: String?

    @Option(help: "The control socket (default: control_socket from the configuration).")
    var socket: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(help: "Print the Prometheus metrics text instead.")
    var metrics = false

    func run() throws {
        var path = socket
        if path == nil {
            let file = config ?? ProcessInfo.processInfo.environment["KXOVER_CONFIG"] ?? Configuration.defaultPath
            do { path = try Configuration.load(path: file, requireRealms: false).controlSocket }
            catch let error as ConfigurationError { throw CLIError(error.description) }
            guard path != nil else { throw CLIError("\(file) sets no [kxoverd] control_socket; kxoverd has no control socket to ask") }
        }
        let answer: String
        do { answer = try ControlClient.ask(metrics ? "metrics" : json ? "status json" : "status", socket: path!) }
        catch { throw CLIError("\(error)") }
        if answer.hasPrefix("error:") { throw CLIError("kxoverd answered: \(answer.dropFirst(7).trimmingCharacters(in: .whitespacesAndNewlines))") }
        print(answer, terminator: "")
    }
}
