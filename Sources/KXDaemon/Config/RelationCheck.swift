import KXKDB

/// What in a kxover.conf is not kxover's: unknown sections, subsections and
/// relations (each naming the nearest known one), relations in the wrong
/// section, and a one-value relation given twice (the profile library would
/// silently use the first).
enum RelationCheck {
    typealias Problem = ConfigurationError.Problem

    static func problems(in profile: ProfileFile, outline: ProfileOutline?) -> [Problem] {
        var problems: [Problem] = []
        func report(_ path: [String], _ message: String) {
            problems.append(Problem(line: outline?.line(of: path), message: message))
        }
        for section in profile.sections() where !KnownRelations.sections.contains(section) {
            report([section], "unknown section [\(section)]; did you mean \(suggestion(section, KnownRelations.sections, brackets: true))?")
        }
        let daemon = KnownRelations.daemonSection, realms = KnownRelations.realmsSection
        problems += relationProblems(profile, outline, at: [daemon], place: "[\(daemon)]",
                                     known: KnownRelations.daemon, elsewhere: (KnownRelations.realm, "a realm's subsection of [\(realms)]"))
        for name in profile.relations([realms]) {
            report([realms, name], "[\(realms)] holds one subsection per realm (REALM = { ... }), not the relation '\(name)'")
        }
        for realm in profile.subsections([realms]) {
            problems += relationProblems(profile, outline, at: [realms, realm], place: "[\(realms)] \(realm)",
                                         known: KnownRelations.realm, elsewhere: (KnownRelations.daemon, "[\(daemon)]"))
        }
        return problems.sorted { ($0.line ?? .max) < ($1.line ?? .max) }
    }

    /// The relations and subsections under `path` against `known`; a name
    /// that belongs to the other place is sent there.
    private static func relationProblems(_ profile: ProfileFile, _ outline: ProfileOutline?, at path: [String], place: String,
                                         known: [KnownRelations.Relation],
                                         elsewhere: (relations: [KnownRelations.Relation], place: String)) -> [Problem] {
        var problems: [Problem] = []
        let names = known.map(\.name)
        for name in profile.subsections(path) {
            problems.append(Problem(line: outline?.line(of: path + [name]),
                                    message: "unknown subsection '\(name)' in \(place); did you mean the relation \(suggestion(name, names))?"))
        }
        for name in profile.relations(path) {
            let lines = outline?.lines(of: path + [name]) ?? []
            if let relation = known.first(where: { $0.name == name }) {
                let count = profile.values(path + [name]).count
                if !relation.repeatable && count > 1 {
                    let first = lines.first.map { " (first on line \($0))" } ?? ""
                    problems.append(Problem(line: lines.dropFirst().first,
                                            message: "\(place) \(name) is given \(count) times\(first); it takes one value"
                                                + (relation.whyOne.map { ": \($0)" } ?? "")))
                }
            } else if let instead = KnownRelations.removed[name] {
                problems.append(Problem(line: lines.first, message: "\(place) \(name) is no longer used: \(instead)"))
            } else if elsewhere.relations.contains(where: { $0.name == name }) {
                problems.append(Problem(line: lines.first, message: "relation '\(name)' belongs in \(elsewhere.place), not in \(place)"))
            } else {
                problems.append(Problem(line: lines.first,
                                        message: "unknown relation '\(name)' in \(place); did you mean \(suggestion(name, names))?"))
            }
        }
        return problems
    }

    private static func suggestion(_ name: String, _ candidates: [String], brackets: Bool = false) -> String {
        let nearest = NearestName.of(name, among: candidates) ?? "?"
        return brackets ? "[\(nearest)]" : "'\(nearest)'"
    }
}
