/// A reusable read buffer: the loop is single-threaded, so every socket on
/// it reads into the same 64 KiB (the largest UDP datagram fits).
final class ScratchBuffer {
    let bytes: UnsafeMutableRawBufferPointer

    init(size: Int = 65_536) {
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
    }

    deinit { bytes.deallocate() }

    func copy(_ count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(rebasing: bytes[0..<count]))
    }
}
