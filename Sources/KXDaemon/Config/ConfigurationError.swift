/// What is wrong with a configuration file: one line per problem, each
/// naming the file and, where it can be found, the line
/// ("kxover.conf:12: unknown relation 'dns_forwarder' in [kxoverd]; ...").
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public struct Problem: Sendable, Equatable {
        public var line: Int?
        public var message: String

        public init(line: Int?, message: String) {
            self.line = line
            self.message = message
        }
    }

    public let path: String
    public let located: [Problem]

    /// The messages, without file and line.
    public var problems: [String] { located.map(\.message) }

    /// Problems written as Configuration writes them ("[kxoverd] NAME ...",
    /// "[realms] REALM: NAME ...") get the line of that relation in `path`,
    /// which is read once here for that.
    public init(path: String, problems: [String]) {
        let outline = ProfileOutline(path: path)
        self.init(path: path, located: problems.map { Problem(line: outline?.line(ofProblem: $0), message: $0) })
    }

    public init(path: String, located: [Problem]) {
        self.path = path
        self.located = located
    }

    /// "PATH:LINE: message", or "PATH: message" when the line is unknown.
    public var lines: [String] {
        located.map { "\(path)\($0.line.map { ":\($0)" } ?? ""): \($0.message)" }
    }

    public var description: String { lines.joined(separator: "\n") }
}
