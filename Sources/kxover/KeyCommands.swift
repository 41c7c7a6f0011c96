import ArgumentParser
import Foundation
import KXDaemon
import KXKDB
import KXOver

/// Options shared by the commands that read kxover's configuration.
struct ConfigOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Configuration file (krb5 profile syntax). Default: $KXOVER_CONFIG or /etc/kxover/kxover.conf.")
    var config: String?

    @Option(name: .shortAndLong, help: "Local realm whose KDB to use (default: every configured realm).")
    var realm: String?

    func load() throws -> Configuration {
        let path = config ?? ProcessInfo.processInfo.environment["KXOVER_CONFIG"] ?? Configuration.defaultPath
        do {
            return try Configuration.load(path: path)
        } catch let error as ConfigurationError {
            throw CLIError(error.description)
        }
    }

    /// The realms to act on: the one named with --realm, or all configured.
    func realms(_ configuration: Configuration) throws -> [Configuration.Realm] {
        if let realm {
            do { return [try configuration.realm(realm)] } catch let error as ConfigurationError { throw CLIError(error.description) }
        }
        return configuration.realms.keys.sorted().map { configuration.realms[$0]! }
    }
}

/// A message for the administrator and exit status 1, without a stack of context.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func openSession(_ realm: Configuration.Realm) throws -> KadminSession {
    do {
        return try KadminSession(realm.kadmin)
    } catch let failure as Krb5Failure {
        throw CLIError("\(realm.name): \(failure)")
    }
}

func describe(_ etypes: [Int32]) -> String {
    etypes.sorted().map { Etype.name($0) }.joined(separator: ",")
}

func describe(_ time: KerberosTime?) -> String {
    guard let c = time?.components else { return "-" }
    func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(c.year)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)):\(two(c.second))"
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the crossover keys kxover manages (principals under the kadm5 policy kxover).")

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let configuration = try options.load()
        var rows: [[String]] = [["REALM", "PRINCIPAL", "KVNO", "ETYPES", "FROM (UTC)", "TILL (UTC)", ""]]
        for realm in try options.realms(configuration) {
            let session = try openSession(realm)
            let sets: [ManagedKeySet]
            do { sets = try session.managedKeySets() } catch let failure as Krb5Failure { throw CLIError("\(realm.name): \(failure)") }
            for set in sets {
                // A key made before a reload denied its peer stays until kxover revoke removes it: say so.
                let denied = policyNote(set.principal, realm)
                if set.versions.isEmpty { rows.append([realm.name, set.principal.description, "-", "(no keys)", "-", "-", denied]) }
                for version in set.versions {
                    rows.append([realm.name, set.principal.description, String(version.kvno), describe(version.etypes),
                                 describe(version.from), describe(version.till), denied])
                }
            }
        }
        if rows.count == 1 {
            print("no crossover keys")
            return
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max()! }
        for row in rows {
            print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces))
        }
    }
}

/// "denied by policy (RULE)" for a key whose peer the realm's policy now
/// refuses in the key's direction (krbtgt/PEER@LOCAL: outgoing;
/// krbtgt/LOCAL@PEER: incoming); empty otherwise.
func policyNote(_ principal: Principal, _ realm: Configuration.Realm) -> String {
    guard let service = principal.name.krbtgtRealm else { return "" }
    let (peer, direction): (String, PeerPolicy.Direction) =
        principal.realm == realm.name ? (service, .outgoing) : (principal.realm, .incoming)
    let decision = realm.peers.decide(peer: peer, direction: direction)
    return decision.allowed ? "" : "denied by policy (\(decision.ruleText))"
}

/// `krbtgt/B@A`, checked.
func parseCrossoverPrincipal(_ text: String) throws -> Principal {
    guard let principal = KadminSession.parsePrincipal(text) else {
        throw CLIError("\(text) is not a crossover principal of the form krbtgt/SERVICE.REALM@CLIENT.REALM")
    }
    return principal
}

/// The one configured realm whose KDB holds `principal`: the client or the
/// service side of it, or the one named with --realm.
func homeRealm(of principal: Principal, _ options: ConfigOptions, _ configuration: Configuration) throws -> Configuration.Realm {
    if options.realm != nil { return try options.realms(configuration)[0] }
    let candidates = [principal.realm, principal.name.krbtgtRealm ?? ""].filter { configuration.realms[$0] != nil }
    guard candidates.count == 1 else {
        throw CLIError(candidates.isEmpty
            ? "neither realm of \(principal) is configured here; name the KDB with --realm"
            : "both realms of \(principal) are configured here; name the KDB with --realm")
    }
    return configuration.realms[candidates[0]]!
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one crossover principal: each kvno, its etypes and validity.")

    @OptionGroup var options: ConfigOptions

    @Argument(help: "The crossover principal, krbtgt/SERVICE.REALM@CLIENT.REALM.")
    var principal: String

    @Flag(help: "Also print an unkeyed SHA-1 digest of each key, to compare two KDBs without showing keys.")
    var digests = false

    func run() throws {
        let configuration = try options.load()
        let principal = try parseCrossoverPrincipal(self.principal)
        let realm = try homeRealm(of: principal, options, configuration)
        let session = try openSession(realm)
        let entry: KeyStoreEntry
        do { entry = try session.entry(principal) } catch let failure as Krb5Failure { throw CLIError("\(realm.name): \(failure)") }
        switch entry {
        case .absent:
            throw CLIError("\(principal) does not exist in the \(realm.name) KDB")
        case .foreign(let policy):
            print("\(principal) in the \(realm.name) KDB is not managed by kxover (policy: \(policy ?? "none"))")
        case .managed(let set):
            // The realm is left out of the heading so that two KDBs' outputs compare equal.
            print("\(principal), managed by kxover")
            if set.versions.isEmpty { print("  no keys") }
            for version in set.versions {
                print("  kvno \(version.kvno): \(describe(version.etypes))")
                print("    valid from \(describe(version.from)) till \(describe(version.till)) UTC")
                if digests {
                    let keys: [(etype: Int32, digest: [UInt8])]
                    do { keys = try session.storedKeys(principal, kvno: version.kvno) }
                    catch let failure as Krb5Failure { throw CLIError("\(realm.name): \(failure)") }
                    for key in keys.sorted(by: { $0.etype < $1.etype }) {
                        print("    \(Etype.name(key.etype)) sha1 \(Hex.string(key.digest))")
                    }
                }
            }
        }
    }
}

struct Revoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove a crossover key: one kvno, or the whole principal.",
        discussion: "Only principals under the kxover policy are touched. Tickets already issued under the key stop working at once.")

    @OptionGroup var options: ConfigOptions

    @Argument(help: "The crossover principal, krbtgt/SERVICE.REALM@CLIENT.REALM.")
    var principal: String

    @Option(help: "Remove only this key version.")
    var kvno: UInt32?

    @Flag(help: "Do not ask for confirmation.")
    var force = false

    func run() throws {
        let configuration = try options.load()
        let principal = try parseCrossoverPrincipal(self.principal)
        let realm = try homeRealm(of: principal, options, configuration)
        let what = kvno.map { "kvno \($0) of \(principal)" } ?? "\(principal) and all its keys"
        if !force {
            guard isatty(STDIN_FILENO) != 0 else { throw CLIError("refusing to revoke without --force when not interactive") }
            print("Revoke \(what) from the \(realm.name) KDB? (yes/no): ", terminator: "")
            guard readLine()?.lowercased() == "yes" else { throw CLIError("not revoked") }
        }
        let session = try openSession(realm)
        do { try session.revoke(principal, kvno: kvno) } catch let failure as Krb5Failure { throw CLIError("\(realm.name): \(failure)") }
        print("revoked \(what) from the \(realm.name) KDB")
        tellRunningDaemon(configuration.controlSocket, principal: principal)
    }

    /// The running kxoverd reads the KDB for every cross-realm request anyway;
    /// told, it also drops the pair's failure backoff and logs the removal.
    private func tellRunningDaemon(_ socket: String?, principal: Principal) {
        guard let socket else { return print("no control_socket configured: no running kxoverd was told") }
        do {
            let answer = try ControlClient.ask("\(ControlClient.revokedPrefix)\(principal)", socket: socket, timeout: 2)
            print("kxoverd: \(answer.trimmingCharacters(in: .whitespacesAndNewlines))")
        } catch {
            print("no running kxoverd was told (\(error))")
        }
    }
}
