import Foundation
import KXEventLoop
import KXOver

/// A scripted resolver on a loop: answers named questions one loop turn
/// later, holds the names in `silent` forever, counts what was asked.
final class ScriptedResolver: Resolver {
    let loop: EventLoop
    var answers: [String: Result<DNSAnswer, DNSFailure>] = [:]
    var silent: Set<String> = []
    private(set) var asked: [String] = []
    /// Questions held for names in `silent`, answered by `release`.
    private var parked: [String: [(Query, (Result<DNSAnswer, DNSFailure>) -> Void)]] = [:]

    init(loop: EventLoop) { self.loop = loop }

    /// Answers the questions held for `name` now, from `answers`.
    func release(_ name: String) {
        let result = answers[name] ?? .success(Self.txt(name, nil))
        for (query, completion) in parked.removeValue(forKey: name) ?? [] where !query.cancelled {
            query.timer = loop.schedule(after: 0) { completion(result) }
        }
    }

    final class Query: DNSQuery {
        var timer: Watch?
        var cancelled = false
        func cancel() {
            cancelled = true
            timer?.cancel()
        }
    }

    func query(_ name: String, _ type: DNSRecordType, completion: @escaping (Result<DNSAnswer, DNSFailure>) -> Void) -> DNSQuery {
        asked.append(name)
        let query = Query()
        guard !silent.contains(name) else {
            parked[name, default: []].append((query, completion))
            return query
        }
        let result = answers[name] ?? .success(Self.txt(name, nil))
        query.timer = loop.schedule(after: 0) { completion(result) }
        return query
    }

    /// A TXT answer: `realm` as its one character-string, or an authenticated denial (nil).
    static func txt(_ name: String, _ realm: String?, security: DNSSecurity = .secure) -> DNSAnswer {
        let rdata = realm.map { [[UInt8(Array($0.utf8).count)] + Array($0.utf8)] } ?? []
        return DNSAnswer(name: name, type: .txt, security: security, nameDoesNotExist: realm == nil, rdata: rdata)
    }

    func say(_ name: String, _ realm: String?, security: DNSSecurity = .secure) {
        answers[name] = .success(Self.txt(name, realm, security: security))
    }
}

/// Descriptors this process holds (for leak checks).
func openDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

/// A blocking AF_UNIX client for the hostrealm socket: one line out, everything back until EOF.
func askHostRealmSocket(_ path: String, _ request: [UInt8], loop: EventLoop, timeout: Double = 3) -> String? {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    guard connectUnix(fd, path) == 0 else { return nil }
    var sent = 0
    var received: [UInt8] = []
    var finished = false
    loop.run(until: {
        if sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n }
        }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { received += buffer.prefix(n) }
        if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { finished = true }
        return finished
    }, timeout: timeout)
    return finished ? String(decoding: received, as: UTF8.self) : nil
}

func connectUnix(_ fd: Int32, _ path: String) -> Int32 {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8).prefix($0.count - 1)) }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

/// A fresh directory for sockets, short enough for sun_path.
func hostRealmTestDirectory() -> String {
    let path = "/tmp/kxhr-" + String(UUID().uuidString.prefix(8))
    mkdir(path, 0o700)
    return path
}
