import CFDPass
import Foundation

/// One record as it arrived, with the descriptor passed alongside it (owned by
/// the receiver, which must close or keep it).
public struct ReceivedRecord: Sendable {
    public let record: TLSPoolRecord
    public let passedFD: Int32?
}

/// A non-blocking AF_UNIX stream socket speaking 388-byte records, from
/// `connect(path)`, an inherited fd or one end of a socketpair.
///
/// Sending is safe from any thread (one lock serialises whole records).
/// Receiving has one consumer: the client's event-loop callback or the pool's
/// reader thread. Records split across reads are reassembled; a descriptor
/// travels with the first byte of its record.
public final class TLSPoolConnection: @unchecked Sendable {
    public let fileDescriptor: Int32
    /// Serialises whole records and closing: an fd number is never closed
    /// (and possibly reused) while a send is using it.
    private let sendLock = NSLock()
    private var isClosed = false

    // Reassembly state, touched only by the single receiver.
    private var partial: [UInt8] = []
    private var partialFD: Int32?

    /// How long a send may wait for room before the peer counts as stuck.
    static let sendStallLimitMS: Int32 = 5000

    /// Takes ownership of `fd` (any connected AF_UNIX stream socket) and makes it non-blocking.
    public init(adopting fd: Int32) throws {
        fileDescriptor = fd
        try Descriptors.setNonBlocking(fd)
    }

    /// Connects to a pool listening on `path`.
    public static func connect(path: String) throws -> TLSPoolConnection {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TLSPoolTransportError.system("socket", errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Descriptors.close(fd)
            throw TLSPoolTransportError.system("connect(\(path))", ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            Descriptors.close(fd)
            throw TLSPoolTransportError.system("connect(\(path))", code)
        }
        return try TLSPoolConnection(adopting: fd)
    }

    /// Two connected ends in this process: one for a client, one for an
    /// embedded pool (`TLSPoolServer.attach`).
    public static func pair() throws -> (TLSPoolConnection, Int32) {
        let (mine, theirs) = try Descriptors.socketPair()
        do {
            return (try TLSPoolConnection(adopting: mine), theirs)
        } catch {
            Descriptors.close(mine)
            Descriptors.close(theirs)
            throw error
        }
    }

    deinit { close() }

    /// Sends one whole record, with `fd` (not consumed: the kernel passes a
    /// duplicate, the caller keeps its own) as SCM_RIGHTS when given.
    public func send(_ record: TLSPoolRecord, passing fd: Int32? = nil) throws {
        var bytes = record.encoded()
        defer { bytes.wipe() }
        sendLock.lock()
        defer { sendLock.unlock() }
        guard !isClosed else { throw TLSPoolTransportError.closed }
        var offset = 0
        while true {
            offset = try writeSome(bytes, from: offset, passing: fd)
            if offset == bytes.count { return }
            // A local socket with no room: wait a little, but a pool that stops
            // reading for seconds is treated as gone rather than blocking us.
            guard Descriptors.wait(fileDescriptor, for: Int16(POLLOUT), timeoutMS: Self.sendStallLimitMS) else {
                if offset > 0 { Glibc.shutdown(fileDescriptor, Int32(SHUT_WR)) }   // framing is lost
                throw offset > 0 ? TLSPoolTransportError.shortWrite(offset) : TLSPoolTransportError.system("sendmsg", EAGAIN)
            }
        }
    }

    /// Sends what fits now of `bytes` from `offset`, never waiting; returns the
    /// new offset (`bytes.count` when all of it went). `fd` rides on the first
    /// byte, so it is attached only at offset 0. For an event loop that must
    /// not block on a full socket: it keeps the rest and waits for POLLOUT.
    public func sendSome(_ bytes: [UInt8], from offset: Int, passing fd: Int32? = nil) throws -> Int {
        sendLock.lock()
        defer { sendLock.unlock() }
        guard !isClosed else { throw TLSPoolTransportError.closed }
        return try writeSome(bytes, from: offset, passing: fd)
    }

    /// The writing both sends share, under `sendLock`: as much as the socket
    /// takes now; the descriptor rides on the record's first byte only.
    private func writeSome(_ bytes: [UInt8], from offset: Int, passing fd: Int32?) throws -> Int {
        var offset = offset
        var attach = offset == 0 ? fd ?? -1 : -1
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                kx_fdpass_send(fileDescriptor, raw.baseAddress! + offset, raw.count - offset, attach)
            }
            if n > 0 {
                offset += n
                attach = -1
                continue
            }
            let code = n < 0 ? errno : EPIPE
            if code == EAGAIN || code == EWOULDBLOCK { return offset }
            throw TLSPoolTransportError.system("sendmsg", code)
        }
        return offset
    }

    /// Reads whatever is available without blocking. `endOfStream` is true
    /// when the peer closed; records read before that are still returned.
    /// A record cut short by EOF, or a truncated control message, is a
    /// protocol violation (thrown, with any received descriptors closed).
    public func readAvailable(limit: Int = 64) throws -> (records: [ReceivedRecord], endOfStream: Bool) {
        var records: [ReceivedRecord] = []
        while records.count < limit {
            switch try readOnce() {
            case .record(let received): records.append(received)
            case .wouldBlock: return (records, false)
            case .partial: continue
            case .endOfStream: return (records, true)
            }
        }
        return (records, false)
    }

    private enum ReadStep { case record(ReceivedRecord), partial, wouldBlock, endOfStream }

    private func readOnce() throws -> ReadStep {
        let wanted = TLSPoolProtocol.recordSize - partial.count
        var chunk = [UInt8](repeating: 0, count: wanted)
        defer { chunk.wipe() }
        var fds: [Int32] = [-1]
        var fdCount: Int32 = 0
        let n = chunk.withUnsafeMutableBytes { raw in
            kx_fdpass_recv(fileDescriptor, raw.baseAddress!, wanted, &fds, 1, &fdCount)
        }
        if n < 0 {
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            discardPartial()
            if code == EPROTO { throw TLSPoolTransportError.protocolViolation("control message truncated (MSG_CTRUNC)") }
            throw TLSPoolTransportError.system("recvmsg", code)
        }
        if n == 0 {
            guard partial.isEmpty else {
                let had = partial.count
                discardPartial()
                throw TLSPoolTransportError.protocolViolation("connection closed inside a record (\(had) of 388 bytes)")
            }
            return .endOfStream
        }
        if fdCount > 0 {
            if partialFD == nil { partialFD = fds[0] } else { Descriptors.close(fds[0]) }   // superfluous
        }
        partial += chunk[0..<n]
        guard partial.count == TLSPoolProtocol.recordSize else { return .partial }
        defer { partial.wipe(); partial = [] }
        let record = try TLSPoolRecord(bytes: partial)
        let fd = partialFD
        partialFD = nil
        return .record(ReceivedRecord(record: record, passedFD: fd))
    }

    private func discardPartial() {
        partial.wipe()
        partial = []
        Descriptors.close(partialFD)
        partialFD = nil
    }

    /// Closes the socket once; later sends fail with `.closed`. Call it from
    /// the receiving side (no read may be in progress).
    public func close() {
        sendLock.lock()
        let wasClosed = isClosed
        isClosed = true
        sendLock.unlock()
        guard !wasClosed else { return }
        Descriptors.close(partialFD)
        partialFD = nil
        Descriptors.close(fileDescriptor)
    }
}

extension Array where Element == UInt8 {
    /// Zeroes the bytes in place, so buffers that carried exporter output or
    /// ctlkeys do not linger in freed memory.
    mutating func wipe() {
        withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            memset(base, 0, raw.count)
        }
    }
}

extension TLSPoolRecord {
    /// Zeroes the payload bytes in their shared storage, so every transient
    /// copy of a record that carried exporter output is wiped, not just a
    /// copy-on-write duplicate. Deliberately bypasses value semantics: call it
    /// only on records that are finished with.
    func wipeStorage() {
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            memset(UnsafeMutableRawPointer(mutating: base), 0, raw.count)
        }
    }
}
