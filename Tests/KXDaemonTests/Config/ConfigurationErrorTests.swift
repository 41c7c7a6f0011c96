import Foundation
@testable import KXDaemon
import Testing

/// Problems print one line each as FILE:LINE: message; the line is found
/// from the relation a message names (issue 13, item 4).
@Suite("configuration: problem lines")
struct ConfigurationErrorTests {
    static let text = """
        # kxover.conf
        [kxoverd]
            listen = 0.0.0.0:88
            metrics_listen = nowhere
        [realms]
            EXAMPLE.ORG = {
                enctypes = des
                sub = {
                    kdc_host = inner
                }
                key_lifetime = 1d
            }
        """

    @Test func theOutlineFindsSectionsSubsectionsAndRelations() {
        let outline = ProfileOutline(text: Self.text)
        #expect(outline.lines(of: ["kxoverd"]) == [2])
        #expect(outline.lines(of: ["kxoverd", "metrics_listen"]) == [4])
        #expect(outline.lines(of: ["realms", "EXAMPLE.ORG"]) == [6])
        #expect(outline.lines(of: ["realms", "EXAMPLE.ORG", "sub", "kdc_host"]) == [9])
        #expect(outline.lines(of: ["realms", "EXAMPLE.ORG", "key_lifetime"]) == [11])
        #expect(outline.line(of: ["realms", "EXAMPLE.ORG", "absent"]) == 6)
        #expect(outline.line(of: ["nowhere"]) == nil)
    }

    @Test func messagesInConfigurationsFormFindTheirLine() {
        let outline = ProfileOutline(text: Self.text)
        #expect(outline.line(ofProblem: "[kxoverd] metrics_listen \"nowhere\" must be ADDRESS:PORT") == 4)
        #expect(outline.line(ofProblem: "[kxoverd] backend_kdc is missing") == 2)
        #expect(outline.line(ofProblem: "[realms] EXAMPLE.ORG: enctypes: \"des\" is not one of ...") == 7)
        #expect(outline.line(ofProblem: "[realms] EXAMPLE.ORG: key_lifetime \"1d\" must be ...") == 11)
        #expect(outline.line(ofProblem: "[realms] EXAMPLE.ORG: the KDB does not open") == 6)
        #expect(outline.line(ofProblem: "realm X is not configured") == nil)
    }

    @Test func oneLinePerProblemWithFileAndLine() throws {
        let path = NSTemporaryDirectory() + "kxover-lines-\(UUID().uuidString).conf"
        try Self.text.write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        let error = ConfigurationError(path: path, problems: ["[kxoverd] metrics_listen \"nowhere\" is bad", "something else"])
        #expect(error.description == "\(path):4: [kxoverd] metrics_listen \"nowhere\" is bad\n\(path): something else")
    }
}
