import KXFuzzChecks
import Foundation
import Testing
import TLSPool

/// Replays the `pioc` fuzz target's seed corpus and saved findings through
/// its property check, plus inputs of every length around the record size.
@Suite("PIOC fuzz regressions")
struct PIOCFuzzRegressionTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    @Test func corpusAndFindingsHoldTheProperty() throws {
        var counts: [String: Int] = [:]
        for folder in ["corpus/pioc", "regressions/pioc"] {
            let dir = Self.fuzzDirectory.appendingPathComponent(folder)
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where !name.hasPrefix(".") {
                PIOCFuzz.record(Array(try Data(contentsOf: dir.appendingPathComponent(name))))
                counts[folder, default: 0] += 1
            }
        }
        #expect(counts["corpus/pioc", default: 0] >= 3)
        #expect(counts["regressions/pioc", default: 0] >= 1, "Fuzz/regressions/pioc holds no input")
    }

    @Test func shortAndLongInputs() {
        for length in [0, 1, 7, 8, 387, 388, 389, 1000] {
            PIOCFuzz.record((0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37) })
        }
    }
}
