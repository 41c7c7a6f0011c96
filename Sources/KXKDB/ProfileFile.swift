import CKerberos
import Foundation

/// A configuration file in krb5 profile syntax (the syntax of kdc.conf), read
/// with libkrb5's own profile library rather than a parser of ours.
public final class ProfileFile {
    private let profile: profile_t
    public let path: String

    public init(path: String) throws {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw Krb5Failure(code: Int(ENOENT), operation: "reading \(path)", message: "file does not exist or is not readable")
        }
        var profile: profile_t?
        let code = profile_init_path(path, &profile)
        guard code == 0, let profile else {
            throw Krb5Failure(code: Int(code), operation: "parsing \(path)", message: Krb5Context.comErr(code))
        }
        self.profile = profile
        self.path = path
    }

    deinit {
        profile_abandon(profile)
    }

    /// All values of `section / subsection... / name`, in file order.
    public func values(_ path: [String]) -> [String] {
        list(path, profile_get_values)
    }

    /// The first value of a relation, if present.
    public func value(_ path: [String]) -> String? {
        values(path).first
    }

    /// Names of the subsections under `path` (for `[realms]`: the realm names).
    public func subsections(_ path: [String]) -> [String] {
        list(path) { profile_get_subsection_names($0, UnsafeMutablePointer(mutating: $1), $2) }
    }

    /// Names of the top-level sections (`[kxoverd]`, `[realms]`, ...).
    public func sections() -> [String] {
        subsections([])
    }

    /// Names of the relations (leaf keys) directly under `path`.
    public func relations(_ path: [String]) -> [String] {
        list(path) { profile_get_relation_names($0, UnsafeMutablePointer(mutating: $1), $2) }
    }

    private typealias ListQuery = (profile_t?, UnsafePointer<UnsafePointer<CChar>?>?,
                                   UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int

    /// Runs one of the profile library's list queries and copies the NULL-terminated result.
    private func list(_ path: [String], _ query: ListQuery) -> [String] {
        withCStrings(path) { names in
            var list: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
            guard query(profile, names, &list) == 0, let list else { return [] }
            defer { profile_free_list(list) }
            var out: [String] = []
            var i = 0
            while let value = list[i] {
                out.append(String(cString: value))
                i += 1
            }
            return out
        }
    }

    private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let duplicated = strings.map { strdup($0) }
        defer { duplicated.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = duplicated.map { UnsafePointer($0) } + [nil]
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
