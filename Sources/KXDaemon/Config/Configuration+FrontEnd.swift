import KXEventLoop
/// `listen` and `backend_kdc` as the front end takes them: numeric addresses
/// only, parsed one way for the start and for `kxoverd -n`.
extension Configuration {
    /// The front end kxoverd starts; throws what `addressProblems()` reports.
    func frontEndConfiguration() throws -> FrontEndConfiguration {
        let realm = realms.keys.sorted().first ?? ""
        return FrontEndConfiguration(realm: realm, listen: try listen.map { try Self.address($0) },
                                     backend: try Self.address(backendKDC ?? ""))
    }

    /// One problem for each listen word and backend_kdc value the start would refuse.
    func addressProblems() -> [String] {
        var problems: [String] = []
        for word in listen {
            do { _ = try Self.address(word) } catch { problems.append("[kxoverd] listen \"\(word)\": \(Self.reason(error))") }
        }
        if let backendKDC {
            let words = backendKDC.split(whereSeparator: \.isWhitespace)
            if words.count > 1 {
                problems.append("[kxoverd] backend_kdc \"\(backendKDC)\" names \(words.count) addresses; it takes one: \(KnownRelations.backendKDCWhyOne)")
            } else {
                do { _ = try Self.address(backendKDC) } catch { problems.append("[kxoverd] backend_kdc \"\(backendKDC)\": \(Self.reason(error))") }
            }
        }
        return problems
    }

    /// A listen or backend_kdc address; both default to the Kerberos port.
    static func address(_ text: String) throws -> SocketAddress { try SocketAddress(parsing: text, defaultPort: 88) }

    /// The parser's reason without its "front end address ..." preamble (the caller names the relation).
    private static func reason(_ error: Error) -> String {
        if case SocketError.badAddress(_, let why) = error { return why }
        return "\(error)"
    }
}
