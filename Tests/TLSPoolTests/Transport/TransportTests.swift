import CFDPass
import Foundation
import Testing
@testable import TLSPool

/// CFDPass and TLSPoolConnection: records split across reads, descriptors
/// travelling with the right record, EOF inside a record.
extension TLSPoolSerialTests {
@Suite("TLS Pool transport")
struct TransportTests {
    @Test func partialRecordsAreReassembledAndTheFDTravelsWithItsRecord() throws {
        let (reader, writerFD) = try TLSPoolConnection.pair()
        defer { close(writerFD) }
        var first = TLSPoolRecord(command: .startTLS, reqid: 1)
        first.starttls.localID = "first"
        let second = TLSPoolRecord(command: .ping, reqid: 2)
        let firstBytes = first.encoded()
        // 100 bytes with a descriptor, then the rest, then a whole record.
        let (a, b) = try Descriptors.socketPair()
        defer { close(a) }
        #expect(firstBytes.withUnsafeBytes { kx_fdpass_send(writerFD, $0.baseAddress, 100, b) } == 100)
        close(b)
        var (records, ended) = try reader.readAvailable()
        #expect(records.isEmpty && !ended)
        #expect(Array(firstBytes[100...]).withUnsafeBytes { kx_fdpass_send(writerFD, $0.baseAddress, $0.count, -1) } == 288)
        #expect(second.encoded().withUnsafeBytes { kx_fdpass_send(writerFD, $0.baseAddress, 388, -1) } == 388)
        (records, ended) = try reader.readAvailable()
        #expect(records.count == 2 && !ended)
        #expect(records[0].record == first && records[0].passedFD != nil)
        #expect(records[1].record == second && records[1].passedFD == nil)
        // The passed descriptor is the other end of our pair.
        let passed = try #require(records[0].passedFD)
        #expect(write(passed, "x", 1) == 1)
        var byte: UInt8 = 0
        #expect(read(a, &byte, 1) == 1 && byte == UInt8(ascii: "x"))
        close(passed)
    }

    @Test func endOfStreamInsideARecordIsAProtocolViolation() throws {
        let (reader, writerFD) = try TLSPoolConnection.pair()
        let bytes = TLSPoolRecord(command: .ping).encoded()
        #expect(bytes.withUnsafeBytes { kx_fdpass_send(writerFD, $0.baseAddress, 10, -1) } == 10)
        close(writerFD)
        #expect(throws: TLSPoolTransportError.protocolViolation("connection closed inside a record (10 of 388 bytes)")) {
            _ = try reader.readAvailable()
        }
    }

    @Test func cleanEndOfStreamAndClosedSends() throws {
        let (reader, writerFD) = try TLSPoolConnection.pair()
        close(writerFD)
        let (records, ended) = try reader.readAvailable()
        #expect(records.isEmpty && ended)
        reader.close()
        #expect(throws: TLSPoolTransportError.closed) { try reader.send(TLSPoolRecord(command: .ping)) }
    }

    @Test func connectByPath() throws {
        let path = NSTemporaryDirectory() + "tlspool-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener); unlink(path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0 && listen(listener, 1) == 0)
        let connection = try TLSPoolConnection.connect(path: path)
        let accepted = accept(listener, nil, nil)
        defer { close(accepted) }
        try connection.send(TLSPoolRecord(command: .ping, reqid: 9))
        var buffer = [UInt8](repeating: 0, count: 388)
        #expect(recv(accepted, &buffer, 388, Int32(MSG_WAITALL)) == 388)
        #expect(try TLSPoolRecord(bytes: buffer).reqid == 9)
        #expect(throws: TLSPoolTransportError.self) { try TLSPoolConnection.connect(path: path + ".missing") }
    }

    /// sendmsg with `fds` as one SCM_RIGHTS message (cmsghdr laid out by hand:
    /// 16-byte header on LP64, 8-byte alignment), carrying `bytes`.
    func sendWithDescriptors(_ socket: Int32, _ bytes: [UInt8], _ fds: [Int32]) -> Int {
        let header = 16, payload = fds.count * 4
        var control = [UInt8](repeating: 0, count: header + (payload + 7) / 8 * 8)
        control.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: header + payload, toByteOffset: 0, as: Int.self)    // cmsg_len
            raw.storeBytes(of: Int32(SOL_SOCKET), toByteOffset: 8, as: Int32.self)  // cmsg_level
            raw.storeBytes(of: Int32(1), toByteOffset: 12, as: Int32.self)          // cmsg_type SCM_RIGHTS
            for (index, fd) in fds.enumerated() { raw.storeBytes(of: fd, toByteOffset: header + 4 * index, as: Int32.self) }
        }
        var data = bytes
        return data.withUnsafeMutableBytes { dataBytes in
            control.withUnsafeMutableBytes { controlBytes in
                var vector = iovec(iov_base: dataBytes.baseAddress, iov_len: dataBytes.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = controlBytes.count
                    return sendmsg(socket, &message, 0)
                }
            }
        }
    }

    @Test func extraDescriptorsAreClosedAndTruncationIsRefused() throws {
        let (reader, writerFD) = try TLSPoolConnection.pair()
        defer { close(writerFD) }
        let pairs = try (0..<12).map { _ in try Descriptors.socketPair() }   // the control buffer holds 8
        defer { pairs.forEach { close($0.0) } }
        let inodes = pairs.map { DescriptorAudit.inode(of: $0.1) }
        let record = TLSPoolRecord(command: .prng, reqid: 5).encoded()

        // Two descriptors with one record: the first is kept, the second closed.
        #expect(sendWithDescriptors(writerFD, record, [pairs[0].1, pairs[1].1]) == 388)
        let (records, _) = try reader.readAvailable()
        #expect(records.count == 1 && records[0].passedFD != nil)
        Descriptors.close(records[0].passedFD)
        close(pairs[0].1)
        close(pairs[1].1)
        #expect(DescriptorAudit.isGone(socketInode: inodes[0], within: 1) && DescriptorAudit.isGone(socketInode: inodes[1], within: 1))

        // More than the control buffer holds: MSG_CTRUNC, a protocol violation, nothing kept.
        let many = pairs[2...].map(\.1)
        #expect(sendWithDescriptors(writerFD, record, Array(many)) == 388)
        many.forEach { close($0) }
        #expect(throws: TLSPoolTransportError.protocolViolation("control message truncated (MSG_CTRUNC)")) { _ = try reader.readAvailable() }
        for inode in inodes[2...] { #expect(DescriptorAudit.isGone(socketInode: inode, within: 1)) }
    }

    @Test func sealedMemfdCarriesExactBytes() throws {
        let bytes: [UInt8] = [0, 1, 0, 2]
        let fd = bytes.withUnsafeBytes { kx_fdpass_memfd("test", $0.baseAddress, $0.count) }
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(kx_fdpass_is_sealed(fd) == 1)
        #expect(write(fd, "x", 1) == -1, "sealed against writes")
        var back = [UInt8](repeating: 9, count: 8)
        #expect(pread(fd, &back, 8, 0) == 4 && Array(back[0..<4]) == bytes)
    }
}
}
