import Foundation
import KXKDB
import Logging

/// What kxoverd checks of each realm's KDB before it serves (and `kxoverd -n`
/// checks too): that the KDB opens in its kadm5 mode and, over kadmind, that
/// kadmind's ACL grants every right kxover needs (KadmRight.needed).
public struct KDBAccessCheck {
    /// Refusals: kxoverd does not start. One line per problem.
    public var problems: [String] = []
    /// Worth a line in the log, not a refusal (e.g. kadmind down at start:
    /// kxoverd checks again on first use, and stores fail until it answers).
    public var warnings: [String] = []

    /// What the process that holds the KDB checks as it starts (kxoverd
    /// without privsep, or the keeper): a missing kadm5 right would fail the
    /// first exchange halfway, so it refuses now, naming it; warnings are logged.
    public static func atStart(_ configuration: Configuration, logger: Logger) throws {
        let access = run(configuration, strict: false)
        guard access.problems.isEmpty else { throw ConfigurationError(path: configuration.path, problems: access.problems) }
        for warning in access.warnings + OneHopCheck.warnings(configuration) { logger.warning("\(warning)") }
    }

    /// `strict`: an unreachable KDB is a problem too (`kxoverd -n`).
    public static func run(_ configuration: Configuration, strict: Bool) -> KDBAccessCheck {
        var check = KDBAccessCheck()
        for realm in configuration.realms.values.sorted(by: { $0.name < $1.name }) {
            let kadmin = realm.kadmin
            let session: KadminSession
            do {
                session = try KadminSession(kadmin)
            } catch {
                let line = "[realms] \(realm.name): cannot open the KDB (\(kadmin.mode.rawValue) mode): \(error)"
                if strict { check.problems.append(line) } else { check.warnings.append(line + "; kxoverd tries again on first use") }
                continue
            }
            do {
                let missing = try session.missingRights()
                check.problems += KadminSession.describeMissing(missing, admin: kadmin.adminPrincipal)
                    .map { "[realms] \(realm.name): \($0)" }
            } catch {
                check.problems.append("[realms] \(realm.name): checking kadmind's rights failed: \(error)")
            }
        }
        return check
    }
}
