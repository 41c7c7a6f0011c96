import Foundation

/// Counters, gauges and histograms for the Prometheus text format (0.0.4).
/// Owned by the event loop thread: no locks, one writer. Families are declared
/// with their help text first; samples of an undeclared family are a bug.
public final class Metrics {
    public enum Kind: String, Sendable { case counter, gauge, histogram }

    private struct Family {
        let kind: Kind
        let help: String
        var samples: [String: Double] = [:]          // label text → value
        var histograms: [String: Histogram] = [:]    // label text → buckets
        var read: (() -> [(labels: String, value: Double)])?
    }

    private struct Histogram {
        var counts: [Int]
        var sum = 0.0
        var count = 0
    }

    /// Seconds: from a sub-millisecond stage (a cached DNS answer) to an
    /// exchange held up by a slow peer.
    public static let durationBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    private var families: [String: Family] = [:]
    private var order: [String] = []

    public init() {}

    public func declare(_ name: String, _ kind: Kind, _ help: String) {
        guard families[name] == nil else { return }
        families[name] = Family(kind: kind, help: help)
        order.append(name)
    }

    /// A gauge or counter whose samples are read at scrape time (state that
    /// already lives elsewhere, e.g. the front end's counters).
    public func declare(_ name: String, _ kind: Kind, _ help: String, read: @escaping () -> [(labels: String, value: Double)]) {
        declare(name, kind, help)
        families[name]?.read = read
    }

    public func increment(_ name: String, _ labels: [(String, String)] = [], by amount: Double = 1) {
        precondition(families[name] != nil, "metric \(name) not declared")
        families[name]!.samples[Self.labelText(labels), default: 0] += amount
    }

    public func observe(_ name: String, _ labels: [(String, String)] = [], seconds value: Double) {
        precondition(families[name]?.kind == .histogram, "histogram \(name) not declared")
        let key = Self.labelText(labels)
        var histogram = families[name]!.histograms[key] ?? Histogram(counts: Array(repeating: 0, count: Self.durationBuckets.count))
        for (index, bound) in Self.durationBuckets.enumerated() where value <= bound { histogram.counts[index] += 1 }
        histogram.sum += value
        histogram.count += 1
        families[name]!.histograms[key] = histogram
    }

    /// The current value of one sample (tests and `kxover status`).
    public func value(_ name: String, _ labels: [(String, String)] = []) -> Double {
        families[name]?.samples[Self.labelText(labels)] ?? 0
    }

    /// The exposition text, families in declaration order, samples sorted.
    public func render() -> String {
        var out = ""
        for name in order {
            guard let family = families[name] else { continue }
            out += "# HELP \(name) \(family.help)\n# TYPE \(name) \(family.kind.rawValue)\n"
            var samples = family.samples
            for sample in family.read?() ?? [] { samples[sample.labels, default: 0] += sample.value }
            for (labels, value) in samples.sorted(by: { $0.key < $1.key }) {
                out += "\(name)\(labels.isEmpty ? "" : "{\(labels)}") \(Self.number(value))\n"
            }
            for (labels, histogram) in family.histograms.sorted(by: { $0.key < $1.key }) {
                let prefix = labels.isEmpty ? "" : labels + ","
                for (index, bound) in Self.durationBuckets.enumerated() {
                    out += "\(name)_bucket{\(prefix)le=\"\(Self.number(bound))\"} \(histogram.counts[index])\n"
                }
                out += "\(name)_bucket{\(prefix)le=\"+Inf\"} \(histogram.count)\n"
                let braces = labels.isEmpty ? "" : "{\(labels)}"
                out += "\(name)_sum\(braces) \(Self.number(histogram.sum))\n\(name)_count\(braces) \(histogram.count)\n"
            }
        }
        return out
    }

    /// `a="x",b="y"` with the format's escapes; label order as given.
    public static func labelText(_ labels: [(String, String)]) -> String {
        labels.map { name, value in
            let escaped = value.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
            return "\(name)=\"\(escaped)\""
        }.joined(separator: ",")
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
