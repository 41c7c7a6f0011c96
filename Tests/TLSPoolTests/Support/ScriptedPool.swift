import Foundation
import KXEventLoop
@testable import TLSPool

/// The pool side of a socketpair, played by the test: reads what the client
/// sends and answers with hand-written records (spec §7.3 "fake pool").
final class ScriptedPool {
    let connection: TLSPoolConnection
    let loop: EventLoop
    private var queue: [ReceivedRecord] = []

    /// A client on `loop` wired to a scripted pool.
    static func make(loop: EventLoop) throws -> (ScriptedPool, TLSPoolClient) {
        let (clientEnd, poolEnd) = try TLSPoolConnection.pair()
        let pool = ScriptedPool(connection: try TLSPoolConnection(adopting: poolEnd), loop: loop)
        return (pool, TLSPoolClient(connection: clientEnd, loop: loop))
    }

    init(connection: TLSPoolConnection, loop: EventLoop) {
        self.connection = connection
        self.loop = loop
    }

    /// The next record from the client, running the loop while waiting.
    func receive(timeout: Double = 2) throws -> ReceivedRecord {
        let deadline = Date().addingTimeInterval(timeout)
        while queue.isEmpty {
            let (records, ended) = try connection.readAvailable()
            queue += records
            if !queue.isEmpty { break }
            if ended { throw TestFailure("client closed the pool connection") }
            guard Date() < deadline else { throw TestFailure("no record from the client within \(timeout) s") }
            loop.run(until: { Descriptors.wait(self.connection.fileDescriptor, for: Int16(POLLIN), timeoutMS: 0) }, timeout: 0.05)
        }
        return queue.removeFirst()
    }

    /// As `receive`, closing any passed descriptor.
    func receiveRecord(timeout: Double = 2) throws -> TLSPoolRecord {
        let received = try receive(timeout: timeout)
        Descriptors.close(received.passedFD)
        return received.record
    }

    func send(_ record: TLSPoolRecord) throws {
        try connection.send(record)
    }

    /// True when nothing more arrives within `seconds`.
    func staysQuiet(for seconds: Double = 0.1) throws -> Bool {
        loop.run(until: { false }, timeout: seconds)
        let (records, _) = try connection.readAvailable()
        queue += records
        return queue.isEmpty
    }

    func close() { connection.close() }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The loopback TCP port a listening or connected socket is bound to.
func localPort(of fd: Int32) -> UInt16 {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}
