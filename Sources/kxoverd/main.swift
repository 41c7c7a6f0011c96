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

    @Option(name: .customLong("engine-channel"),
            help: ArgumentHelp("Internal: run as the engine of a privilege-separated kxoverd, on this descriptor.", visibility: .private))
    var engineChannel: Int32?

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
        let logger = Logger(label: engineChannel == nil && !checkOnly ? "keeper" : "kxoverd")
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
            for warning in OneHopCheck.warnings(configuration) {
                FileHandle.standardError.write(Data("kxoverd: warning: \(warning)\n".utf8))
            }
            print("kxoverd: \(path) is valid: realms \(configuration.realms.keys.sorted().joined(separator: ", "))")
            return
        }
        do {
            if let engineChannel {
                // The engine: everything that faces the network, as kxover_user once its sockets are bound.
                let account = try PrivilegeDrop.account(named: configuration.kxoverUser)
                let daemon = try Daemon(configuration: configuration, logger: logger, keeperChannel: engineChannel)
                installFaults(daemon, logger)
                try daemon.run { try PrivilegeDrop.drop(to: account) }
            } else if configuration.privsep {
                let keeper = try Keeper(configuration: configuration, logger: logger, engineArguments: engineArguments(path),
                                        firstEngineArguments: debugStopAtStage.map { ["--debug-stop-at-stage", $0] } ?? [])
                let status = keeper.run()
                if status != 0 { throw ExitCode(status) }
            } else {
                let plain = Logger(label: "kxoverd")
                plain.warning("privsep = false: one process holds the KDB and faces the network; for tests and development only")
                let daemon = try Daemon(configuration: configuration, logger: plain)
                installFaults(daemon, plain)
                try daemon.run()
            }
        } catch let exit as ExitCode {
            throw exit
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        } catch {
            FileHandle.standardError.write(Data("kxoverd: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

extension KXOverD {
    /// The engine's command line: the keeper's own options, and the channel.
    func engineArguments(_ path: String) -> [String] {
        var arguments = ["--engine-channel", "\(EngineProcess.channelDescriptor)", "--config", path]
        if let logLevel { arguments += ["--log-level", logLevel] }
        return arguments
    }

    func installFaults(_ daemon: Daemon, _ logger: Logger) {
        guard let stage = debugStopAtStage else { return }
        logger.warning("debug option --debug-stop-at-stage \(stage): kxoverd stops itself when an exchange enters that stage")
        daemon.engine.faults = StageFaults(stopAt: stage, logger: logger)
    }
}

// Before anything else runs, kxoverd closes whatever descriptors it
// inherited (a test runner's sockets, a shell's files): the keeper must hold
// no network socket, the engine nothing of the keeper's but its channel.
let channelArgument = CommandLine.arguments.firstIndex(of: "--engine-channel").flatMap { at in
    at + 1 < CommandLine.arguments.count ? Int32(CommandLine.arguments[at + 1]) : nil
}
EngineProcess.closeInheritedDescriptors(keeping: channelArgument ?? -1)
KXOverD.main()
