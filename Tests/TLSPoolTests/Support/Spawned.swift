import Foundation

/// A child process for interop tests (gnutls-serv, gnutls-cli, tlspoold),
/// its output collected in a file; terminated and reaped on `stop()`.
final class Spawned {
    let process = Process()
    let outputPath: String
    private let input = Pipe()

    init(_ executable: String, _ arguments: [String]) throws {
        outputPath = NSTemporaryDirectory() + "tlspool-spawn-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = input
        // Swift Testing's threads block signals and children inherit the
        // mask: unblock around the spawn so SIGTERM reaches the child.
        var all = sigset_t(), saved = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_UNBLOCK, &all, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        try process.run()
        try output.close()
    }

    deinit { stop() }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Waits until the output contains `text`; the matching line, or nil.
    func waitForLine(containing text: String, timeout: Double = 5) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = output.split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
            usleep(20_000)
        }
        return nil
    }

    func closeInput() { try? input.fileHandleForWriting.close() }

    func stop() {
        closeInput()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        unlink(outputPath)
    }
}

/// A TCP port that was free a moment ago on 127.0.0.1.
func freeLoopbackPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestFailure("bind: errno \(errno)") }
    return localPort(of: fd)
}

/// Connects to 127.0.0.1:`port`, retrying until something listens.
func connectLoopback(port: UInt16, timeout: Double = 5) throws -> Int32 {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        if connected { return fd }
        close(fd)
        guard Date() < deadline else { throw TestFailure("nothing listens on 127.0.0.1:\(port)") }
        usleep(20_000)
    }
}

/// A listening socket on 127.0.0.1 (any port) and that port.
func listenLoopback() throws -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let ok = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    } && listen(fd, 4) == 0
    guard ok else { close(fd); throw TestFailure("listen: errno \(errno)") }
    return (fd, localPort(of: fd))
}

/// Hex of "- Key material: <hex>" as gnutls-cli/serv print it.
func keyMaterial(in line: String) -> [UInt8]? {
    guard let hex = line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) else { return nil }
    var bytes: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) ?? hex.endIndex
        guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
        bytes.append(byte)
        index = next
    }
    return bytes
}
