import KXOver
import Testing

/// Text a peer or DNS chose reaches logs and `kxover status` escaped: it
/// cannot forge a line, reach the terminal as an escape sequence, or grow
/// without bound.
@Suite("log text")
struct LogTextTests {
    @Test func printableTextPassesUnchanged() {
        #expect(LogText.escaped("krbtgt/SERVICE.TEST@CLIENT.TEST") == "krbtgt/SERVICE.TEST@CLIENT.TEST")
        #expect(LogText.isPlain("host/svc.service.test"))
    }

    @Test func aNewlineCannotForgeALogLine() {
        let forged = LogText.escaped("x\nkx9 finished CLIENT.TEST>EVIL.TEST")
        #expect(!forged.contains("\n"))
        #expect(forged == "x\\x0Akx9 finished CLIENT.TEST>EVIL.TEST")
    }

    @Test func terminalEscapesBackslashAndNonASCIIBecomeHex() {
        #expect(LogText.escaped("\u{1B}[2J") == "\\x1B[2J")
        #expect(LogText.escaped("a\\b") == "a\\x5Cb")
        #expect(LogText.escaped("\u{7F}") == "\\x7F")
        #expect(LogText.escaped("é") == "\\xC3\\xA9")
        #expect(!LogText.isPlain("tab\there"))
    }

    @Test func longTextIsCutAtTheLimit() {
        let cut = LogText.escaped(String(repeating: "A", count: 5000), limit: 64)
        #expect(cut.count == 64)
        #expect(cut.hasSuffix("..."))
        #expect(LogText.escaped(String(repeating: "\n", count: 500)).count <= LogText.defaultLimit)
    }

    @Test func anErrorDetailFromAPeerIsEscapedWhereverItIsShown() {
        let error = KXError(.refused, "peer said \u{1B}]0;pwned\u{07}\nnext", refusedBy: "EVIL\n.TEST")
        #expect(!error.description.contains("\n"))
        #expect(!error.description.contains("\u{1B}"))
        #expect(error.description.contains("\\x1B]0;pwned\\x07\\x0Anext"))
    }
}
