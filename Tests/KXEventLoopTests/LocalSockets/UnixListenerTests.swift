import Foundation
import KXEventLoop
import Testing

/// The local sockets' files: created with their mode whatever the umask, no
/// symlink followed, a live socket never taken over, and only our own file
/// removed at close.
@Suite("UNIX listener files")
struct UnixListenerTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "kx-unix-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
    }

    func mode(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o777 : 0
    }

    @Test(arguments: [mode_t(0o600), 0o660])
    func theFileGetsItsModeWhateverTheUmask(wanted: mode_t) throws {
        let saved = umask(0)   // the most permissive umask: no bit would be taken away
        defer { umask(saved) }
        let listener = try UnixListener(path: dir + "/s.sock", what: "test socket", mode: wanted, backlog: 4)
        defer { listener.close() }
        #expect(mode(listener.path) == wanted)
    }

    @Test func aSymlinkIsNeverFollowed() throws {
        let target = dir + "/victim"
        FileManager.default.createFile(atPath: target, contents: Data("keep".utf8), attributes: [.posixPermissions: 0o600])
        let path = dir + "/link.sock"
        #expect(symlink(target, path) == 0)
        #expect(throws: UnixListenerError.self) { try UnixListener(path: path, what: "test socket", backlog: 4) }
        #expect(mode(target) == 0o600)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep")
    }

    @Test func aLiveSocketRefusesAStaleOneIsReplaced() throws {
        let path = dir + "/live.sock"
        let first = try UnixListener(path: path, what: "test socket", backlog: 4)
        do {
            _ = try UnixListener(path: path, what: "test socket", backlog: 4)
            Issue.record("took over a live socket")
        } catch let error as UnixListenerError {
            #expect(error.description.contains("in use by another process"))
        }
        // A socket file nobody listens on (a crashed process's) is replaced.
        Glibc.close(first.fd)
        let second = try UnixListener(path: path, what: "test socket", backlog: 4)
        second.close()
        #expect(mode(path) == 0, "close removed its own file")
    }

    @Test func closeRemovesOnlyItsOwnFile() throws {
        let path = dir + "/own.sock"
        let old = try UnixListener(path: path, what: "test socket", backlog: 4)
        unlink(path)   // another process took the path over
        let newer = try UnixListener(path: path, what: "test socket", backlog: 4)
        old.close()
        #expect(mode(path) != 0, "the newer process's socket is still there")
        newer.close()
        #expect(mode(path) == 0)
    }
}
