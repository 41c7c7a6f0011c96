import Foundation
import KXEventLoop

/// Records on their way to one application, sent without ever waiting: what
/// the socket cannot take now stays here, in order, and goes out from the
/// connection's lane when the socket has room. Any lane may `send`. An
/// application that stops reading while more than `limit` records wait is
/// cut off (its connection ends), instead of holding up a lane or growing
/// without bound.
final class Outbox: @unchecked Sendable {
    private let transport: TLSPoolConnection
    private let lane: PoolLane
    private let lock = NSLock()
    private var waiting: [[UInt8]] = []
    /// How much of `waiting[0]` has gone already.
    private var offset = 0
    private var flushQueued = false
    private var failed = false
    /// On the lane only.
    @CancelledWhenReplaced private var writeWatch: Watch?

    /// About 6 MiB of records: far more than an application that reads ever
    /// has waiting, even kxoverd's own engine with a burst of exchanges
    /// (a handful of records each) at the pool's session cap.
    static let limit = 16384

    init(transport: TLSPoolConnection, lane: PoolLane) {
        self.transport = transport
        self.lane = lane
    }

    enum Failure: Error { case gone, stuck }

    /// Queues `record` behind any others and sends what fits now.
    func send(_ record: TLSPoolRecord) throws(Failure) {
        var bytes = record.encoded()
        lock.lock()
        defer { lock.unlock() }
        guard !failed else { bytes.wipe(); throw .gone }
        if waiting.isEmpty {
            do {
                let sent = try transport.sendSome(bytes, from: 0)
                if sent == bytes.count { bytes.wipe(); return }
                offset = sent
            } catch {
                bytes.wipe()
                failLocked()
                throw .gone
            }
        } else if waiting.count >= Self.limit {
            bytes.wipe()
            failLocked()
            Glibc.shutdown(transport.fileDescriptor, Int32(SHUT_RDWR))   // the reader sees the end and tears down
            throw .stuck
        }
        waiting.append(bytes)
        if !flushQueued {
            flushQueued = true
            lane.execute { [self] in watchForRoom() }
        }
    }

    /// On the lane: drop everything (the connection is ending).
    func close() {
        writeWatch = nil
        lock.withLock { failLocked() }
    }

    private func watchForRoom() {
        lock.lock()
        let needed = !waiting.isEmpty && !failed
        if !needed { flushQueued = false }
        lock.unlock()
        guard needed, writeWatch == nil else { return }
        writeWatch = lane.loop.watch(fd: transport.fileDescriptor, events: .writable) { [unowned self] _ in flush() }
    }

    private func flush() {
        lock.lock()
        defer { lock.unlock() }
        while !waiting.isEmpty && !failed {
            do {
                let sent = try transport.sendSome(waiting[0], from: offset)
                if sent < waiting[0].count { offset = sent; return }
                waiting[0].wipe()
                waiting.removeFirst()
                offset = 0
            } catch {
                failLocked()
            }
        }
        flushQueued = false
        writeWatch = nil
    }

    private func failLocked() {
        failed = true
        for index in waiting.indices { waiting[index].wipe() }
        waiting = []
        offset = 0
    }
}
