import Foundation
import Glibc
import KXEventLoop

/// Prometheus scrapes on `[kxoverd] metrics_listen` (HTTP/1.0-style: one GET
/// of /metrics per connection, then close). Anything else gets 404 or 405;
/// requests are bounded in size and time by RequestServer.
final class MetricsEndpoint {
    /// metrics_listen's port when it names none.
    static let defaultPort: UInt16 = 9749

    let address: SocketAddress
    private let fd: Int32
    private let server: RequestServer

    init(listen: SocketAddress, loop: EventLoop, render: @escaping () -> String) throws {
        fd = try Sockets.tcpListener(listen, backlog: 16)
        guard let bound = Sockets.localAddress(fd) else {
            Glibc.close(fd)
            throw SocketError.system("getsockname on metrics_listen \(listen)", errno)
        }
        address = bound
        server = RequestServer(listener: fd, loop: loop, parse: Self.parse) { request, respond in
            switch request {
            case .success(let path) where path == "/metrics":
                respond(Self.response(200, "OK", body: render(), type: "text/plain; version=0.0.4; charset=utf-8"))
            case .success(let path) where path.hasPrefix("!"):
                respond(Self.response(405, "Method Not Allowed", body: "only GET /metrics\n"))
            case .success:
                respond(Self.response(404, "Not Found", body: "only GET /metrics\n"))
            case .failure(let refusal):
                respond(Self.response(400, "Bad Request", body: "\(refusal.reason)\n"))
            }
            return nil
        }
        server.start()
    }

    func close() {
        server.stop()
        Glibc.close(fd)
    }

    /// The request path once the header block is complete; "!" marks a method other than GET/HEAD.
    static func parse(_ bytes: [UInt8]) -> RequestServer.Parse {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.contains("\r\n\r\n") || text.contains("\n\n") else { return .incomplete }
        // Bytes, not Characters: "\r\n" is one Character in Swift.
        let firstLine = bytes.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
        let words = String(decoding: firstLine, as: UTF8.self).split(separator: " ")
        guard words.count == 3, words[2].hasPrefix("HTTP/1.") else { return .malformed("not an HTTP/1 request line") }
        guard words[0] == "GET" || words[0] == "HEAD" else { return .complete("!" + words[0]) }
        return .complete(String(words[1].prefix { $0 != "?" }))
    }

    static func response(_ code: Int, _ reason: String, body: String, type: String = "text/plain; charset=utf-8") -> [UInt8] {
        let bodyBytes = Array(body.utf8)
        let head = "HTTP/1.1 \(code) \(reason)\r\nContent-Type: \(type)\r\nContent-Length: \(bodyBytes.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + bodyBytes
    }
}
