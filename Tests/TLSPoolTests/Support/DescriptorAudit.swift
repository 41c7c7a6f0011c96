import Foundation

/// Counts this process's open descriptors (/proc/self/fd) to catch leaks.
/// Leak-checking suites are serialized; other code may still open and close
/// descriptors briefly, so the check waits for the count to come back.
enum DescriptorAudit {
    static func openCount() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.count ?? 1) - 1   // minus the directory's own fd
    }

    /// True once the count is back to `baseline` (or below) within `timeout`.
    /// The bound is generous because suites of other targets run in parallel
    /// and hold descriptors of their own for seconds (a KDC, a zone); a leak
    /// never comes back, so it still fails, just later.
    static func returnsTo(_ baseline: Int, within timeout: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while openCount() > baseline {
            guard Date() < deadline else { return false }
            usleep(10_000)
        }
        return true
    }

    /// The socket inode behind `fd` ("socket:[N]"), to find its duplicates later.
    static func inode(of fd: Int32) -> UInt64 {
        var info = stat()
        return fstat(fd, &info) == 0 ? UInt64(info.st_ino) : 0
    }

    /// True when no descriptor of this process refers to socket `inode` any more.
    static func isGone(socketInode inode: UInt64, within timeout: Double = 5) -> Bool {
        let target = "socket:[\(inode)]"
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            let present = names.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0)) == target }
            if !present { return true }
            guard Date() < deadline else { return false }
            usleep(10_000)
        }
    }
}
