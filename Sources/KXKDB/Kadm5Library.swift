import CKerberos
import Foundation

/// kadm5 is reached through one of two MIT libraries with identical symbols:
/// the server library opens the local KDB (what kadmin.local uses), the client
/// library talks to kadmind. Each is loaded with dlopen, once per process.
public enum Kadm5Mode: String, Sendable, CaseIterable {
    case local
    case remote

    var soname: String {
        switch self {
        case .local: return "libkadm5srv_mit.so.12"
        case .remote: return "libkadm5clnt_mit.so.12"
        }
    }
}

final class Kadm5Library: @unchecked Sendable {
    // @unchecked: the table is written once under the lock and read-only after.
    let api: kx_kadm5_api
    let mode: Kadm5Mode

    private init(mode: Kadm5Mode, api: kx_kadm5_api) {
        self.mode = mode
        self.api = api
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var loaded: [Kadm5Mode: Kadm5Library] = [:]

    static func load(_ mode: Kadm5Mode) throws -> Kadm5Library {
        lock.lock()
        defer { lock.unlock() }
        if let library = loaded[mode] { return library }
        var api = kx_kadm5_api()
        var error = [CChar](repeating: 0, count: 512)
        guard kx_kadm5_load(mode.soname, &api, &error, error.count) == 0 else {
            throw Krb5Failure(code: -1, operation: "loading kadm5 (\(mode.rawValue) mode)", message: String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        let library = Kadm5Library(mode: mode, api: api)
        loaded[mode] = library
        return library
    }
}
