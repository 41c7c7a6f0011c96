/// The known name closest to a misspelled one, for "did you mean ...?".
enum NearestName {
    /// The candidate with the fewest single-character edits (insert, delete,
    /// replace, swap two neighbours) from `name`, ignoring case; the first
    /// such candidate on a tie. Nil only without candidates.
    static func of(_ name: String, among candidates: [String]) -> String? {
        candidates.min { distance(name, $0) < distance(name, $1) }
    }

    /// Optimal string alignment distance, case-insensitive.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var best = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    best = min(best, table[i - 2][j - 2] + 1)
                }
                table[i][j] = best
            }
        }
        return table[a.count][b.count]
    }
}
