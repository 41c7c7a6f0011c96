import KXOver
import Foundation
@testable import TLSPool

/// An application speaking raw records to a pool, without the client
/// library: for conformance tests of each transition and each ERROR.
final class RawClient {
    let connection: TLSPoolConnection
    private var queue: [ReceivedRecord] = []

    init(_ pool: TLSPoolServer) throws {
        connection = try pool.connectInProcess()
    }

    init(connection: TLSPoolConnection) {
        self.connection = connection
    }

    func send(_ record: TLSPoolRecord, passing fd: Int32? = nil) throws {
        try connection.send(record, passing: fd)
    }

    /// Sends with a fresh random non-zero reqid; returns it.
    @discardableResult
    func request(_ record: TLSPoolRecord, passing fd: Int32? = nil) throws -> UInt16 {
        var outgoing = record
        outgoing.reqid = UInt16.random(in: 1...UInt16.max)
        try send(outgoing, passing: fd)
        return outgoing.reqid
    }

    func receive(timeout: Double = 5) throws -> ReceivedRecord {
        let deadline = Date().addingTimeInterval(timeout)
        while queue.isEmpty {
            let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            guard left > 0 else { throw TestFailure("no record from the pool within \(timeout) s") }
            _ = Descriptors.wait(connection.fileDescriptor, for: Int16(POLLIN), timeoutMS: left)
            let (records, ended) = try connection.readAvailable()
            queue += records
            if queue.isEmpty && ended { throw TestFailure("the pool closed the connection") }
        }
        return queue.removeFirst()
    }

    func receiveRecord(timeout: Double = 5) throws -> TLSPoolRecord {
        let received = try receive(timeout: timeout)
        Descriptors.close(received.passedFD)
        return received.record
    }

    /// Sends `record` and returns the pool's one answer.
    func roundTrip(_ record: TLSPoolRecord, passing fd: Int32? = nil) throws -> TLSPoolRecord {
        let reqid = try request(record, passing: fd)
        let answer = try receiveRecord()
        guard answer.reqid == reqid else { throw TestFailure("answer for reqid \(answer.reqid), sent \(reqid)") }
        return answer
    }

    func close() { connection.close() }
}

extension TLSPoolRecord {
    static func startTLS(_ flags: StartTLSFlags, localID: String = "", remoteID: String = "", ctlkey: CtlKey = .random(),
                         timeout: UInt32 = 5000) -> TLSPoolRecord {
        StartTLSParameters(flags: flags, localID: localID, remoteID: remoteID, poolTimeoutMS: timeout).record(ctlkey: ctlkey)
    }

    static func prng(ctlkey: CtlKey, label: String = KeySchedule.exporterLabel, context: [UInt8]? = nil, length: Int16 = 32) -> TLSPoolRecord {
        var record = TLSPoolRecord(command: .prng)
        record.prng.in1Length = Int16(label.utf8.count)
        record.prng.in2Length = context.map { Int16($0.count) } ?? -1
        record.prng.prngLength = length
        record.prng.buffer = ctlkey.bytes + Array(label.utf8) + (context ?? [])
        return record
    }

    /// An answer to `callback`: echoed, same cbid, edited by `edit`.
    func answered(_ edit: (inout TLSPoolRecord) -> Void = { _ in }) -> TLSPoolRecord {
        var answer = self
        edit(&answer)
        return answer
    }
}


