/// How many peer realms one local realm may hold kxover keys with
/// (`max_peer_realms`): a hard bound on what crossover can add to the KDB,
/// behind the zone budget that slows a zone minting realms. A peer counts
/// once, whether the KDB holds `krbtgt/PEER@LOCAL`, `krbtgt/LOCAL@PEER` or
/// both. Re-keying a peer the KDB already holds is never refused. Pure.
public enum PeerRealmCap {
    /// Far above any federation a realm administrator runs by hand, far below
    /// what would trouble a KDB (two principals a peer, a few kvnos each).
    public static let defaultMaximum = 1000

    /// Why a key for `principal` must not be created, or nil: it would add a
    /// peer beyond `maximum`. `existing` are the principals kxover manages now.
    public static func refusal(creating principal: Principal, local: String, existing: [Principal], maximum: Int) -> String? {
        guard let peer = principal.crossoverPeer(local: local) else { return nil }
        let peers = Set(existing.compactMap { $0.crossoverPeer(local: local) })
        guard !peers.contains(peer), peers.count >= maximum else { return nil }
        return "max_peer_realms \(maximum) reached: \(local) already holds kxover keys with \(peers.count) peer realms, "
            + "so none is made for the new peer \(peer) (kxover list; kxover revoke frees a place)"
    }
}
