import CKerberos
import KXOver

/// An error from libkrb5 or kadm5, with MIT's own message.
public struct Krb5Failure: Error, CustomStringConvertible, Sendable {
    public let code: Int
    public let operation: String
    public let message: String

    public var description: String { "\(operation): \(message) (\(code))" }
}

/// One krb5_context, confined to the thread that uses it (MIT contexts are
/// not thread-safe). Closed on deinit.
public final class Krb5Context {
    let raw: krb5_context

    /// A context from explicit profile files (never the process environment),
    /// so one daemon can serve several realms with different kdc.conf files.
    /// `kdc` selects KDC behaviour, which kadm5's server library needs.
    public init(profileFiles: [String], kdc: Bool) throws {
        var profile: profile_t?
        let path = profileFiles.joined(separator: ":")
        let code = profile_init_path(path, &profile)
        guard code == 0, let profile else {
            throw Krb5Failure(code: Int(code), operation: "reading profile \(path)", message: Self.comErr(code))
        }
        defer { profile_abandon(profile) }
        var context: krb5_context?
        let status = krb5_init_context_profile(profile, kdc ? krb5_flags(KRB5_INIT_CONTEXT_KDC) : 0, &context)
        guard status == 0, let context else {
            throw Krb5Failure(code: Int(status), operation: "krb5_init_context_profile", message: Self.comErr(status))
        }
        raw = context
    }

    /// Takes ownership of a context made elsewhere (kadm5's initialiser).
    init(adopting context: krb5_context) {
        raw = context
    }

    deinit {
        krb5_free_context(raw)
    }

    /// MIT's message for a krb5 or kadm5 error code.
    public func message(_ code: Int) -> String {
        guard let text = krb5_get_error_message(raw, krb5_error_code(truncatingIfNeeded: code)) else { return "error \(code)" }
        defer { krb5_free_error_message(raw, text) }
        return String(cString: text)
    }

    func check(_ code: krb5_error_code, _ operation: @autoclosure () -> String) throws {
        if code != 0 { throw Krb5Failure(code: Int(code), operation: operation(), message: message(Int(code))) }
    }

    func check(kadm5 code: kadm5_ret_t, _ operation: @autoclosure () -> String) throws {
        if code != 0 { throw Krb5Failure(code: code, operation: operation(), message: message(code)) }
    }

    static func comErr(_ code: some BinaryInteger) -> String {
        String(cString: error_message(errcode_t(code)))
    }

    public func setDefaultRealm(_ realm: String) throws {
        try check(krb5_set_default_realm(raw, realm), "krb5_set_default_realm")
    }

    /// Parses `principal` (text form, e.g. krbtgt/B@A); free with `free(principal:)`.
    func parse(_ principal: Principal) throws -> krb5_principal {
        var parsed: krb5_principal?
        try check(krb5_parse_name(raw, principal.description, &parsed), "parsing \(principal)")
        return parsed!
    }

    func free(principal: krb5_principal?) {
        if let principal { krb5_free_principal(raw, principal) }
    }

    func unparse(_ principal: krb5_const_principal) throws -> String {
        var text: UnsafeMutablePointer<CChar>?
        try check(krb5_unparse_name(raw, principal, &text), "krb5_unparse_name")
        defer { krb5_free_unparsed_name(raw, text) }
        return String(cString: text!)
    }

    /// The RFC 3961 key length of `etype`, or nil when this krb5 lacks it.
    public func keyLength(of etype: Int32) -> Int? {
        guard krb5_c_valid_enctype(krb5_enctype(etype)) != 0 else { return nil }
        var seedLength = 0, keyLength = 0
        guard krb5_c_keylengths(raw, krb5_enctype(etype), &seedLength, &keyLength) == 0 else { return nil }
        return keyLength
    }

    /// An unkeyed SHA-1 of `bytes` (krb5's NIST-SHA checksum): lets two key
    /// stores be compared without ever showing a key.
    public func digest(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var input = krb5_data(magic: 0, length: UInt32(bytes.count),
                              data: UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: CChar.self)))
        var sum = krb5_checksum()
        guard krb5_c_make_checksum(raw, krb5_cksumtype(CKSUMTYPE_NIST_SHA), nil, 0, &input, &sum) == 0 else { return [] }
        defer { krb5_free_checksum_contents(raw, &sum) }
        return Array(UnsafeBufferPointer(start: sum.contents, count: Int(sum.length)))
    }

    public func seedLength(of etype: Int32) -> Int? {
        guard krb5_c_valid_enctype(krb5_enctype(etype)) != 0 else { return nil }
        var seedLength = 0, keyLength = 0
        guard krb5_c_keylengths(raw, krb5_enctype(etype), &seedLength, &keyLength) == 0 else { return nil }
        return seedLength
    }
}
