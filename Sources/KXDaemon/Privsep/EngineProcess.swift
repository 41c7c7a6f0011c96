import Foundation

/// Starts the engine: this same executable, with the keeper channel's
/// other end as descriptor 3 and every other descriptor closed at exec.
public enum EngineProcess {
    public static let channelDescriptor: Int32 = 3

    /// The engine's pid and the keeper's end of the channel.
    static func spawn(arguments: [String]) throws -> (pid: pid_t, channel: Int32) {
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw PrivilegeDrop.Failure(description: "socketpair: \(String(cString: strerror(errno)))")
        }
        // dup2 onto itself would keep FD_CLOEXEC: move the engine's end out of the way first.
        var engineEnd = ends[1]
        if engineEnd == channelDescriptor {
            engineEnd = fcntl(ends[1], F_DUPFD_CLOEXEC, 10)
            close(ends[1])
        }
        defer { close(engineEnd) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, engineEnd, channelDescriptor)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard code == 0 else {
            close(ends[0])
            throw PrivilegeDrop.Failure(description: "starting the engine (\(executable)): \(String(cString: strerror(code)))")
        }
        return (pid, ends[0])
    }

    /// First thing in kxoverd: close every descriptor it inherited but 0–2
    /// and, in the engine, the channel (whatever the keeper's libraries or
    /// the starting process left open).
    public static func closeInheritedDescriptors(keeping channel: Int32) {
        guard let directory = opendir("/proc/self/fd") else { return }
        let own = dirfd(directory)
        var stray: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if let fd = Int32(name), fd > 2, fd != channel, fd != own { stray.append(fd) }
        }
        closedir(directory)
        for fd in stray { close(fd) }
    }
}
