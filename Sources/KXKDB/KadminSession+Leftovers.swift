import CKerberos
import Foundation
import KXOver

extension KadminSession {
    /// Traces of stores that were cut short with no undo possible (kxoverd
    /// killed between two kadm5 calls): a kxover principal that holds no key
    /// at all, and validity records of kvnos that hold no key. The KDC can use
    /// neither, but `kxover list` would show them. A principal is removed only
    /// once it has been keyless for `grace` seconds, and a record only once
    /// its validity began more than `grace` seconds ago, so that a store
    /// running now in another kxoverd of the realm is never cut from under it.
    public func removeLeftovers(now: KerberosTime, grace: Int64 = 300) throws -> [String] {
        var removed: [String] = []
        for set in try managedKeySets() {
            try locked {
                let parsed = try context.parse(set.principal)
                defer { context.free(principal: parsed) }
                if set.versions.isEmpty {
                    guard try modifiedAt(parsed, named: set.principal) < now.secondsSinceEpoch - grace else { return }
                    let code = api.delete_principal(handle, parsed)
                    if code != KADM5_UNK_PRINC { try context.check(kadm5: code, "deleting the keyless \(set.principal)") }
                    removed.append("\(set.principal) (created by a store that did not complete; no key)")
                    return
                }
                let keyed = Set(set.versions.map(\.kvno))
                // A record that starts within the grace period may be a store running
                // now in another kxoverd, between its validity and its keys.
                let records = try validities(parsed, named: set.principal)
                for kvno in records.keys.sorted() where !keyed.contains(kvno)
                    && records[kvno]!.from.secondsSinceEpoch < now.secondsSinceEpoch - grace {
                    try setValidity(parsed, kvno: kvno, from: nil, till: nil, named: set.principal)
                    removed.append("the validity record of \(set.principal) kvno \(kvno) (no key of that kvno)")
                }
            }
        }
        return removed
    }

    private func modifiedAt(_ parsed: krb5_principal, named principal: Principal) throws -> Int64 {
        var ent = kadm5_principal_ent_rec()
        try context.check(kadm5: api.get_principal(handle, parsed, &ent, Int(KADM5_MOD_TIME)), "reading \(principal)")
        defer { _ = api.free_principal_ent(handle, &ent) }
        return Int64(ent.mod_date)
    }
}
