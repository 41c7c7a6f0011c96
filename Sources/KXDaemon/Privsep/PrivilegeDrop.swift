import CPrivsep
import Foundation

/// The engine's change to its unprivileged account: supplementary groups,
/// then group, then user, all three ids of each, then no new privileges
/// (no setuid binary or file capability can raise it again). Checked: a
/// process that can still become root after this refuses to go on.
public enum PrivilegeDrop {
    public struct Account: Sendable, Equatable {
        public let name: String
        public let uid: uid_t
        public let gid: gid_t
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The account `name` from the password database.
    public static func account(named name: String) throws -> Account {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        let code = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        guard code == 0, result != nil else {
            throw Failure(description: "kxover_user \(name) does not exist: create it (adduser --system --group --no-create-home \(name)) or name another unprivileged account")
        }
        guard entry.pw_uid != 0 else { throw Failure(description: "kxover_user \(name) is root: the engine must run unprivileged") }
        return Account(name: name, uid: entry.pw_uid, gid: entry.pw_gid)
    }

    /// Only root can run the engine as another account.
    public static func requireRoot(for account: Account) throws {
        guard geteuid() == 0 else {
            throw Failure(description: "privsep: kxoverd must start as root to run its engine as \(account.name) (privsep = false is for development only)")
        }
    }

    public static func drop(to account: Account) throws {
        try requireRoot(for: account)
        // SIGTERM when the keeper dies: the engine drains and stops rather than run on alone.
        let step = kx_drop_privileges(account.uid, account.gid, SIGTERM)
        guard step == 0 else {
            let what = ["setgroups", "setresgid", "setresuid", "PR_SET_NO_NEW_PRIVS", "PR_SET_PDEATHSIG"][Int(step) - 1]
            throw Failure(description: "privsep: \(what) for \(account.name): \(String(cString: strerror(errno)))")
        }
        guard setuid(0) != 0, geteuid() == account.uid, getegid() == account.gid else {
            throw Failure(description: "privsep: the engine could regain root after dropping to \(account.name)")
        }
        // The working directory may be one the account cannot read.
        _ = chdir("/")
    }
}
