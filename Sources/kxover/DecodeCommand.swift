import ArgumentParser
import Foundation
import KXOver

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a KX-REQ, KX-REP, KXOVER-KEY-INFO, KRB-ERROR or KDC request in readable form.",
        discussion: """
            The kind is detected from the first byte. A 4-byte Kerberos TCP length \
            prefix is accepted. Exit status 0 when the input decodes, 1 when it does \
            not; the error names the offending field and its byte offset.
            """
    )

    @Argument(help: "DER file to read, or - for standard input.")
    var file: String = "-"

    @Flag(help: "The input is hexadecimal text (whitespace ignored).")
    var hex = false

    func run() throws {
        var bytes: [UInt8]
        do {
            bytes = try readInput()
        } catch {
            throw ValidationError("cannot read \(file == "-" ? "standard input" : file): \(error.localizedDescription)")
        }
        if hex {
            let text = String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
            guard let decoded = Hex.decode(text) else { throw ValidationError("input is not hexadecimal text") }
            bytes = decoded
        }
        do {
            print(try MessageInspector.inspect(bytes).text)
        } catch let failure as DecodeFailure {
            FileHandle.standardError.write(Data("kxover decode: \(failure)\n".utf8))
            throw ExitCode(1)
        }
    }

    func readInput() throws -> [UInt8] {
        if file == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
        return Array(try Data(contentsOf: URL(fileURLWithPath: file)))
    }
}
