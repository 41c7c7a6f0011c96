import KXFuzzChecks
import Foundation
import Testing
import KXOver

/// Replays the fuzz seed corpora and every saved finding through the same
/// property checks the fuzzers run (a violated property traps the test run).
@Suite("fuzz regressions")
struct FuzzRegressionTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func files(in folder: String) -> [URL] {
        let dir = fuzzDirectory.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
    }

    @Test func seedCorporaAndRegressionsExist() {
        #expect(Self.files(in: "corpus/decoders").count >= 5)
        #expect(Self.files(in: "corpus/framer").count >= 3)
        #expect(Self.files(in: "corpus/dns").count >= 5)
        // An emptied (or moved) regression folder must fail, not replay nothing.
        #expect(Self.files(in: "corpus/keeper").count >= 4)
        for target in ["decoders", "framer", "dns", "keeper"] {
            #expect(!Self.files(in: "regressions/\(target)").isEmpty, "Fuzz/regressions/\(target) holds no input")
        }
    }

    @Test func dnsRecordInputsHoldTheirProperties() throws {
        let inputs = Self.files(in: "corpus/dns") + Self.files(in: "regressions/dns")
        #expect(inputs.count >= 5)
        for url in inputs { FuzzChecks.dnsRecords(Array(try Data(contentsOf: url))) }
    }

    @Test func decoderInputsHoldTheirProperties() throws {
        for url in Self.files(in: "corpus/decoders") + Self.files(in: "regressions/decoders") {
            FuzzChecks.decoders(Array(try Data(contentsOf: url)))
        }
    }

    @Test func framerInputsHoldTheirProperties() throws {
        for url in Self.files(in: "corpus/framer") + Self.files(in: "regressions/framer") {
            FuzzChecks.framer(Array(try Data(contentsOf: url)))
        }
    }

    @Test func keeperInputsHoldTheirProperties() throws {
        let inputs = Self.files(in: "corpus/keeper") + Self.files(in: "regressions/keeper")
        // The seeds decode (the fuzzer starts from requests the keeper reads);
        // the regressions are refused, cleanly.
        for url in Self.files(in: "corpus/keeper") {
            #expect((try? KeeperWire.decodeRequest(Array(try Data(contentsOf: url)))) != nil, "\(url.lastPathComponent) does not decode")
        }
        for url in Self.files(in: "regressions/keeper") {
            #expect((try? KeeperWire.decodeRequest(Array(try Data(contentsOf: url)))) == nil, "\(url.lastPathComponent) decodes")
        }
        for url in inputs { KeeperFuzz.request(Array(try Data(contentsOf: url))) }
    }
}
