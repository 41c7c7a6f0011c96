import Foundation
import KXEventLoop
import KXKDB

/// kxoverd's control socket (`[kxoverd] control_socket`), read by `kxover
/// status` and told by `kxover revoke`. One line in ("status", "status json",
/// "metrics" or "revoked PRINCIPAL"), the answer out, then close. The socket file is mode 0660: whoever may read it may see
/// realm names and failure reasons (never key material).
final class ControlServer {
    static let commands = ["status", "status json", "metrics"]

    private let listener: UnixListener
    private let server: RequestServer

    init(path: String, loop: EventLoop, answer: @escaping (String) -> String) throws {
        listener = try UnixListener(path: path, what: "control_socket", backlog: 16)
        server = RequestServer(listener: listener.fd, loop: loop, parse: Self.parse) { request, respond in
            switch request {
            case .success(let command): respond(Array(answer(command).utf8))
            case .failure(let refusal): respond(Array("error: \(refusal.reason)\n".utf8))
            }
            return nil
        }
        server.start()
    }

    func close() {
        server.stop()
        listener.close()
    }

    static func parse(_ bytes: [UInt8]) -> RequestServer.Parse {
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return .incomplete }
        guard let line = String(validating: bytes[..<newline], as: UTF8.self)?.trimmingCharacters(in: .whitespaces) else {
            return .malformed("not UTF-8")
        }
        // "revoked krbtgt/B@A": kxover revoke removed a key.
        if line.hasPrefix(ControlClient.revokedPrefix), KadminSession.parsePrincipal(String(line.dropFirst(ControlClient.revokedPrefix.count))) != nil {
            return .complete(line)
        }
        guard commands.contains(line) else {
            return .malformed("unknown command \"\(line.prefix(40))\" (known: \(commands.joined(separator: ", ")), \(ControlClient.revokedPrefix)PRINCIPAL)")
        }
        return .complete(line)
    }
}
