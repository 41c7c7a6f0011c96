import Foundation
import Testing
import KXOver

/// `kxover decode` as an administrator runs it: the built executable.
@Suite("kxover decode")
struct DecodeCommandTests {
    static let executable: URL = {
        // The test bundle lives in the build products folder beside the executables.
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("kxover").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("kxover")
    }()

    struct Run { let status: Int32; let out: String; let err: String }

    static func run(_ arguments: [String], stdin: [UInt8]? = nil) throws -> Run {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }

    @Test func decodesEachKind() throws {
        let cases = [("syn-kx-req-conformant.der", "KX-REQ"), ("syn-kx-rep.der", "KX-REP"),
                     ("syn-kxover-key-info.der", "KXOVER-KEY-INFO"), ("mit-krb-error-7-fast.der", "KRB-ERROR"),
                     ("mit-tgs-req-fast-krbtgt-beta.der", "TGS-REQ")]
        for (file, kind) in cases {
            let run = try Self.run(["decode", Vectors.directory.appendingPathComponent(file).path])
            #expect(run.status == 0, "\(file): \(run.err)")
            #expect(run.out.hasPrefix(kind), "\(file)")
        }
        let rep = try Self.run(["decode", Vectors.directory.appendingPathComponent("syn-kx-rep.der").path])
        #expect(rep.out.contains("kvno         23061 (policy: month 3, day 6, serial 1)"))
        #expect(rep.out.contains("krbtgt/UNICORN.DEMO.ARPA2.ORG@PIXIE.DEMO.ARPA2.ORG"))
    }

    @Test func readsStandardInputFramedAndHex() throws {
        let bytes = Vectors.load("syn-kx-rep.der")
        let framed = try Self.run(["decode", "-"], stdin: TCPFraming.frame(bytes))
        #expect(framed.status == 0)
        #expect(framed.out.hasPrefix("KX-REP"))
        let hex = try Self.run(["decode", "--hex"], stdin: Array((Hex.string(bytes) + "\n").utf8))
        #expect(hex.status == 0)
        #expect(hex.out == framed.out)
    }

    @Test func malformedInputNamesFieldAndOffset() throws {
        var bytes = Vectors.load("syn-kx-req-conformant.der")
        bytes[35] = UInt8(ascii: "X")
        let run = try Self.run(["decode", "-"], stdin: bytes)
        #expect(run.status == 1)
        #expect(run.err.contains("KX-REQ.offer.request-time at byte 28"), "\(run.err)")
        let garbage = try Self.run(["decode", "-"], stdin: [0x42, 0x00])
        #expect(garbage.status == 1)
        #expect(garbage.err.contains("first byte 0x42"))
        let missing = try Self.run(["decode", "/nonexistent/file.der"])
        #expect(missing.status != 0)
        #expect(missing.err.contains("cannot read /nonexistent/file.der"))
    }
}
