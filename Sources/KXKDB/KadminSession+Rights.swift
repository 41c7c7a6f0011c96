import CKerberos
import Foundation
import KXOver

/// A kadm5 ACL right kxover needs over kadmind, and why.
public struct KadmRight: Sendable, Hashable, CustomStringConvertible {
    public let letter: Character
    public let name: String
    public let reason: String

    public var description: String { "\"\(letter)\" (\(name)): \(reason)" }

    /// Every right kxover needs on `krbtgt/*@*`, in kadm5.acl order. `e`
    /// (extract keys) is not among them: only `kxover show --digests` reads
    /// key bytes back, and a store that finds its kvno already present
    /// without it refuses rather than compares.
    public static let needed: [KadmRight] = [
        KadmRight(letter: "a", name: "add", reason: "needed to create crossover principals"),
        KadmRight(letter: "d", name: "delete", reason: "needed to remove expired or revoked crossover principals and to undo a store that did not complete"),
        KadmRight(letter: "i", name: "inquire", reason: "needed to read crossover principals, their kvnos and validity records"),
        KadmRight(letter: "l", name: "list", reason: "needed to find the crossover principals for the key check and kxover list"),
        KadmRight(letter: "m", name: "modify", reason: "needed to record key validity, cap ticket lifetimes and prune old kvnos"),
        KadmRight(letter: "s", name: "setkey", reason: "needed to write the derived keys"),
    ]
}

extension KadminSession {
    /// The principal the probes name: a crossover principal no realm can
    /// have (".invalid" is reserved, RFC 6761), so that an ACL restricted to
    /// `krbtgt/*@*` applies to it as it does to real ones.
    var rightsProbePrincipal: Principal {
        .crossover(client: configuration.realm, service: "KXOVER-RIGHTS-PROBE.INVALID")
    }

    /// The rights kadmind does not grant this session's principal over
    /// crossover principals; empty in local mode (whoever can open the KDB
    /// files may do anything). Each probe is a real kadm5 call that kadmind
    /// refuses either with an authorization error or, once its ACL check has
    /// passed, for another reason before it changes anything: "no such
    /// principal" on a name no realm can have, "bad mask" for add, "bad kvno"
    /// for setkey (see probeSetKey). kadm5_get_privs cannot serve: MIT 1.20's
    /// kadmind answers "everything" whatever its ACL says.
    public func missingRights() throws -> [KadmRight] {
        guard configuration.mode == .remote else { return [] }
        return try locked {
            let probe = rightsProbePrincipal
            let parsed = try context.parse(probe)
            defer { context.free(principal: parsed) }
            var missing: [KadmRight] = []
            for right in KadmRight.needed {
                let code = probeRight(right.letter, parsed)
                if code == 0 && right.letter == "i" {
                    throw Krb5Failure(code: -1, operation: "checking kadm5 rights", message: "\(probe) exists; remove it, kxover uses that name to probe kadmind")
                }
                if Self.authorizationErrors.contains(code) {
                    missing.append(right)
                } else if !Self.probeAnswers.contains(code) {
                    throw Krb5Failure(code: Int(code), operation: "checking the kadm5 \"\(right.letter)\" right on \(probe)", message: context.message(Int(code)))
                }
            }
            return missing
        }
    }

    private static let authorizationErrors: Set<kadm5_ret_t> = [
        kadm5_ret_t(KADM5_AUTH_GET), kadm5_ret_t(KADM5_AUTH_ADD), kadm5_ret_t(KADM5_AUTH_MODIFY), kadm5_ret_t(KADM5_AUTH_DELETE),
        kadm5_ret_t(KADM5_AUTH_INSUFFICIENT), kadm5_ret_t(KADM5_AUTH_LIST), kadm5_ret_t(KADM5_AUTH_SETKEY),
    ]
    /// What a granted right answers on the probe principal.
    private static let probeAnswers: Set<kadm5_ret_t> = [0, kadm5_ret_t(KADM5_UNK_PRINC), kadm5_ret_t(KADM5_BAD_MASK), kadm5_ret_t(KADM5_SETKEY_BAD_KVNO)]

    private func probeRight(_ letter: Character, _ parsed: krb5_principal) -> kadm5_ret_t {
        switch letter {
        case "a":
            // A mask kadm5 refuses (BAD_MASK) only after the ACL check: nothing is created.
            var ent = kadm5_principal_ent_rec()
            ent.principal = parsed
            return api.create_principal_3(handle, &ent, Int(KADM5_PRINCIPAL | KADM5_LAST_PWD_CHANGE), 0, nil, nil)
        case "d":
            return api.delete_principal(handle, parsed)
        case "i":
            var ent = kadm5_principal_ent_rec()
            let code = api.get_principal(handle, parsed, &ent, Int(KADM5_PRINCIPAL_NORMAL_MASK))
            if code == 0 { _ = api.free_principal_ent(handle, &ent) }
            return code
        case "l":
            var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
            var count: Int32 = 0
            let pattern = strdup("krbtgt/KXOVER-RIGHTS-PROBE.INVALID@*")
            defer { free(pattern) }
            let code = api.get_principals(handle, pattern, &names, &count)
            if code == 0 { _ = api.free_name_list(handle, names, count) }
            return code
        case "m":
            var ent = kadm5_principal_ent_rec()
            ent.principal = parsed
            ent.max_life = 1
            return api.modify_principal(handle, &ent, Int(KADM5_MAX_LIFE))
        case "s":
            return probeSetKey()
        default:
            return kadm5_ret_t(KADM5_BAD_MASK)
        }
    }

    /// kadmind looks a principal up (for lockdown_keys) before it checks the
    /// setkey right, so this probe needs a crossover principal that exists:
    /// one of kxover's if there is any, else a temporary one (created and
    /// deleted again, which the other probes showed kadmind allows). Two keys
    /// of different kvnos make kadmind refuse the call (SETKEY_BAD_KVNO)
    /// after its ACL check and before it touches the KDB.
    private func probeSetKey() -> kadm5_ret_t {
        let temporary = rightsProbePrincipal
        var target = temporary
        var created = false
        if let existing = (try? managedKeySetsUnlocked())?.first {
            target = existing.principal
        } else {
            guard let parsed = try? context.parse(temporary) else { return kadm5_ret_t(KADM5_BAD_MASK) }
            defer { context.free(principal: parsed) }
            guard (try? create(parsed, named: temporary, ticketLifetime: nil)) != nil else { return kadm5_ret_t(KADM5_BAD_MASK) }
            created = true
        }
        guard let parsed = try? context.parse(target) else { return kadm5_ret_t(KADM5_BAD_MASK) }
        defer {
            if created { _ = api.delete_principal(handle, parsed) }
            context.free(principal: parsed)
        }
        var bytes = [UInt8](repeating: 0, count: 64)
        return bytes.withUnsafeMutableBytes { buffer in
            let keys = UnsafeMutablePointer<kadm5_key_data>.allocate(capacity: 2)
            defer { keys.deallocate() }
            for i in 0..<2 {
                var key = kadm5_key_data()
                key.kvno = krb5_kvno(i + 1)   // two kvnos in one call: always refused
                key.key.magic = krb5_magic(KV5M_KEYBLOCK)
                key.key.enctype = krb5_enctype(ENCTYPE_AES256_CTS_HMAC_SHA1_96)
                key.key.length = 32
                key.key.contents = buffer.baseAddress!.advanced(by: 32 * i).assumingMemoryBound(to: krb5_octet.self)
                key.salt.type = krb5_int16(KRB5_KDB_SALTTYPE_NORMAL)
                keys[i] = key
            }
            return api.setkey_principal_4(handle, parsed, 0, keys, 2)
        }
    }

    /// One line per missing right, as kxoverd and `kxoverd -n` print them.
    public static func describeMissing(_ rights: [KadmRight], admin: String) -> [String] {
        rights.map { "kadmind grants \(admin) no \"\($0.letter)\" (\($0.name)): \($0.reason)" }
    }
}
