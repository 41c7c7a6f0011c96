import Foundation

/// Where each section, subsection and relation of a profile file sits, by
/// line number. libkrb5's profile library parses the file and decides what it
/// means; it keeps no line numbers, so this scan only finds lines for
/// messages. A place it cannot find (a file pulled in by `include`) is simply
/// reported without a line.
struct ProfileOutline {
    /// A path is the section, the subsections, then the relation's name:
    /// ["kxoverd", "listen"], ["realms", "EXAMPLE.ORG", "kdc_host"].
    private(set) var lines: [[String]: [Int]] = [:]

    init(text: String) {
        var open: [String] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), let close = line.firstIndex(of: "]") {
                open = [String(line[line.index(after: line.startIndex)..<close])]
                lines[open, default: []].append(index + 1)
            } else if line.hasPrefix("}") {
                if open.count > 1 { open.removeLast() }
            } else if let equals = line.firstIndex(of: "=") {
                let name = line[..<equals].trimmingCharacters(in: .whitespaces)
                let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                lines[open + [name], default: []].append(index + 1)
                if value.hasPrefix("{") { open.append(name) }
            }
        }
    }

    /// The outline of the file at `path`; nil when it cannot be read.
    init?(path: String) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        self.init(text: text)
    }

    /// Every line where `path` appears, in file order.
    func lines(of path: [String]) -> [Int] {
        lines[path] ?? []
    }

    /// The first line of `path`, else of the nearest enclosing section that
    /// appears in the file.
    func line(of path: [String]) -> Int? {
        var path = path
        while !path.isEmpty {
            if let line = lines[path]?.first { return line }
            path.removeLast()
        }
        return nil
    }

    /// The line a problem is about, for messages written the way
    /// Configuration writes them: "[kxoverd] NAME ..." or
    /// "[realms] REALM: NAME ..." (NAME a relation when one by that name is
    /// there, else the section or the realm's subsection).
    func line(ofProblem message: String) -> Int? {
        let words = message.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard let first = words.first, first.hasPrefix("["), first.hasSuffix("]") else { return nil }
        func name(_ word: String) -> String { word.hasSuffix(":") ? String(word.dropLast()) : word }
        var path = [String(first.dropFirst().dropLast())]
        if path == [KnownRelations.realmsSection], words.count > 1, words[1].hasSuffix(":") {
            path.append(name(words[1]))
            if words.count > 2 { path.append(name(words[2])) }
        } else if words.count > 1 {
            path.append(name(words[1]))
        }
        return line(of: path)
    }
}
