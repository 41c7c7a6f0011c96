import ArgumentParser
import Foundation
import KXDaemon
import Logging

/// kxoverd: the KXOVER sidecar in front of an MIT krb5kdc.
struct KXOverD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kxoverd",
        abstract: "KXOVER daemon: impromptu Kerberos realm crossover in front of krb5kdc.")

    @Option(name: .shortAndLong, help: "Configuration file. Default: $KXOVER_CONFIG or /etc/kxover/kxover.conf.")
    var config: String?

    @Flag(name: .customShort("n"), help: "Check the configuration, and what kxoverd checks as it starts, then exit without starting.")
    var checkOnly = false

    @Option(name: [.customShort("P"), .customLong("pid-file")],
            help: ArgumentHelp("Write the process id to this file (overrides [kxoverd] pid_file), as krb5kdc -P does.", valueName: "pidfile"))
    var pidFile: String?

    @Option(name: .customLong("debug-stop-at-stage"),
            help: ArgumentHelp("For tests: stop (SIGSTOP) as an exchange enters this stage, e.g. C11.", visibility: .hidden))
    var debugStopAtStage: String?

    // No default value here: ArgumentParser would print whatever
    // $KXOVER_LOG_LEVEL holds as "the default", unlike kxoverd(8).
    @Option(help: ArgumentHelp("Log level: \(Self.levelNames). Default: $KXOVER_LOG_LEVEL when set, else info.",
                               valueName: "level"))
    var logLevel: String?

    static let levelNames = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level \(logLevel) is not one of \(Self.levelNames)")
        }
    }

    func run() throws {
        // A write to a kadmind (or peer) that has gone away must fail, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        let chosen = logLevel ?? ProcessInfo.processInfo.environment["KXOVER_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: chosen) else {
            FileHandle.standardError.write(Data("kxoverd: KXOVER_LOG_LEVEL \(chosen) is not one of \(Self.levelNames)\n".utf8))
            throw ExitCode(1)
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "kxoverd")
        let path = config ?? ProcessInfo.processInfo.environment["KXOVER_CONFIG"] ?? Configuration.defaultPath
        var configuration: Configuration
        do {
            configuration = try Configuration.load(path: path)
            if let pidFile { configuration.pidFile = pidFile }
        } catch let error as ConfigurationError {
            // One "FILE:LINE: problem" line each, as compilers write them.
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
        if checkOnly {
            let problems = StartupCheck.problems(of: configuration)
            guard problems.isEmpty else {
                FileHandle.standardError.write(Data("\(ConfigurationError(path: path, problems: problems))\n".utf8))
                throw ExitCode(1)
            }
            print("kxoverd: \(path) is valid: realms \(configuration.realms.keys.sorted().joined(separator: ", "))")
            return
        }
        do {
            let daemon = try Daemon(configuration: configuration, logger: logger)
            if let stage = debugStopAtStage {
                logger.warning("debug option --debug-stop-at-stage \(stage): kxoverd stops itself when an exchange enters that stage")
                daemon.engine.faults = StageFaults(stopAt: stage, logger: logger)
            }
            try daemon.run()
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        } catch {
            FileHandle.standardError.write(Data("kxoverd: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

KXOverD.main()
