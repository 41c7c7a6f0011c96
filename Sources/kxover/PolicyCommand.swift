import ArgumentParser
import KXDaemon
import KXOver

/// `kxover policy REALM`: what the configured peer policy says about a peer
/// realm, per local realm and direction, without contacting anyone.
struct Policy: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show whether the peer policy lets a local realm cross with REALM, and the rule that decides.",
        discussion: """
            Reads peers_allowed, peers_denied, incoming and outgoing from the configuration; contacts \
            nothing. Exits 0 when every direction shown is allowed, 1 when any is refused. \
            "incoming" is REALM's KX-REQ to us (its users reach our services); "outgoing" is an exchange \
            we start for our users (they reach REALM's services).
            """)

    @OptionGroup var options: ConfigOptions

    @Argument(help: "The peer realm, e.g. PARTNER.EXAMPLE.")
    var peer: String

    @Flag(help: "Only the incoming direction (the peer's users reach us).")
    var incoming = false

    @Flag(help: "Only the outgoing direction (our users reach the peer).")
    var outgoing = false

    func run() throws {
        let configuration = try options.load()
        let peer = peer.uppercased()
        guard RealmName.isValid(peer) else {
            throw CLIError("\(self.peer) is not a DNS-style realm name: kxover never crosses with it")
        }
        let directions: [PeerPolicy.Direction] = incoming == outgoing ? [.incoming, .outgoing] : incoming ? [.incoming] : [.outgoing]
        var refused = false
        for realm in try options.realms(configuration) {
            for direction in directions {
                let decision = realm.name == peer
                    ? PeerPolicy.Decision(allowed: false, rule: .denied, ruleText: "a realm never crosses with itself")
                    : realm.peers.decide(peer: peer, direction: direction)
                refused = refused || !decision.allowed
                let arrow = direction == .incoming ? "\(peer) → \(realm.name)" : "\(realm.name) → \(peer)"
                print("\(realm.name) \(direction.rawValue) \(arrow): \(decision.allowed ? "allowed" : "refused") (\(decision.ruleText))")
            }
            if realm.peers.reciprocal, realm.name != peer {
                print("\(realm.name) reciprocal: " + (realm.peers.reciprocates(peer)
                    ? "after serving \(peer) → \(realm.name), kxoverd crosses \(realm.name) → \(peer) too"
                    : "on, but the outgoing policy refuses \(peer)"))
            }
        }
        if refused { throw ExitCode(1) }
    }
}
