import ArgumentParser
import Foundation
import KXOver

struct KXOverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kxover",
        abstract: "Administer KXOVER, impromptu Kerberos realm crossover.",
        subcommands: [Decode.self, List.self, Show.self, Revoke.self, CheckDNS.self, Cross.self, Policy.self, Status.self]
    )
}

// A write to a kadmind that has gone away must fail with an error, not kill kxover.
signal(SIGPIPE, SIG_IGN)
// Administrator-facing errors print as one line and exit 1.
do {
    var command = try KXOverCommand.parseAsRoot()
    try command.run()
} catch let error as CLIError {
    FileHandle.standardError.write(Data("kxover: \(error.description)\n".utf8))
    exit(1)
} catch {
    KXOverCommand.exit(withError: error)
}
