import CKerberos
import Foundation
import KXOver

extension MaintenanceLease {
    /// "HOLDER UNTIL"; nil for anything else (a lease never read is no lease).
    init?(attribute: String) {
        let parts = attribute.split(separator: " ")
        guard parts.count == 2, let until = try? KerberosTime(String(parts[1])) else { return nil }
        self.init(holder: String(parts[0]), until: until)
    }

    var attribute: String { "\(holder) \(until)" }
}

extension KadminSession {
    static let leaseAttribute = "kxover-maintainer"

    /// The principal's lease, if it has one that can be read.
    public func lease(_ principal: Principal) throws -> MaintenanceLease? {
        try locked {
            let parsed = try context.parse(principal)
            defer { context.free(principal: parsed) }
            return try lease(parsed, named: principal)
        }
    }

    func lease(_ parsed: krb5_principal, named principal: Principal) throws -> MaintenanceLease? {
        var strings: UnsafeMutablePointer<krb5_string_attr>?
        var count: Int32 = 0
        try context.check(kadm5: api.get_strings(handle, parsed, &strings, &count), "reading attributes of \(principal)")
        defer { _ = api.free_strings(handle, strings, count) }
        for i in 0..<Int(count) where String(cString: strings![i].key) == Self.leaseAttribute {
            return MaintenanceLease(attribute: String(cString: strings![i].value))
        }
        return nil
    }

    func setLease(_ parsed: krb5_principal, _ lease: MaintenanceLease, named principal: Principal) throws {
        let key = strdup(Self.leaseAttribute), value = strdup(lease.attribute)
        defer { free(key); free(value) }
        try context.check(kadm5: api.set_string(handle, parsed, key, value), "recording the key check lease on \(principal)")
    }
}
