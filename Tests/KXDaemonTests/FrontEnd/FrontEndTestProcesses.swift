import Foundation
import KXEventLoop
import KXTestSupport

/// The shared posix_spawn runner (KXTestSupport), and how front-end tests use it.
typealias FrontEndTestProcess = TestProcess
typealias FrontEndTestFailure = TestFailure

extension TestProcess {
    /// Runs while driving `loop`, so a front end on it serves the child.
    static func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil,
                    driving loop: EventLoop, timeout: Double = 30) throws -> TestProcess {
        let process = try TestProcess(arguments, environment: environment, input: input)
        guard loop.run(until: { process.hasExited }, timeout: timeout) else {
            throw TestFailure("\(arguments.joined(separator: " ")) did not finish in \(timeout) s:\n\(process.output)")
        }
        return process
    }
}
