/// How many user requests kxoverd may hold while exchanges run: per exchange
/// (realm pair), per source prefix, and in all. A TGS-REQ is held on what its
/// body names, before anyone has checked that the KDC issued the TGT in it
/// (only krb5kdc, with the realm's own key, can), so anybody may ask for holds;
/// the caps keep them far below what the front end can relay. A request over
/// a cap is not dropped: it goes on to krb5kdc at once and gets the KDC's
/// ordinary answer.
public struct HoldBudget: Sendable {
    public struct Limits: Sendable, Hashable {
        public var perExchange: Int
        public var perSource: Int
        public var total: Int

        public init(perExchange: Int, perSource: Int, total: Int) {
            self.perExchange = perExchange
            self.perSource = perSource
            self.total = total
        }

        /// The front end relays 512 UDP requests and 512 TCP connections at
        /// once: holds may take at most a quarter of that, one exchange at most
        /// half of the holds, one /24 (IPv4) or /56 (IPv6) at most 16.
        public static let `default` = Limits(perExchange: 64, perSource: 16, total: 128)
    }

    /// One hold granted; give it back with `release`.
    public struct Ticket: Hashable, Sendable {
        let exchange: String
        let source: [UInt8]
    }

    public enum Refusal: String, Sendable {
        case exchange = "per_exchange"
        case source = "per_source"
        case total = "total"
    }

    public let limits: Limits
    private var byExchange: [String: Int] = [:]
    private var bySource: [[UInt8]: Int] = [:]
    public private(set) var held = 0

    public init(limits: Limits = .default) {
        self.limits = limits
    }

    /// A hold for a request from `address` (4 or 16 bytes) waiting on
    /// `exchange`, or the cap that refuses it.
    public mutating func admit(exchange: String, address: [UInt8]) -> Result<Ticket, RefusedHold> {
        let source = Self.prefix(of: address)
        if held >= limits.total { return .failure(RefusedHold(cap: .total)) }
        if byExchange[exchange, default: 0] >= limits.perExchange { return .failure(RefusedHold(cap: .exchange)) }
        if bySource[source, default: 0] >= limits.perSource { return .failure(RefusedHold(cap: .source)) }
        held += 1
        byExchange[exchange, default: 0] += 1
        bySource[source, default: 0] += 1
        return .success(Ticket(exchange: exchange, source: source))
    }

    public mutating func release(_ ticket: Ticket) {
        guard held > 0 else { return }
        held -= 1
        byExchange[ticket.exchange, default: 1] -= 1
        if byExchange[ticket.exchange] == 0 { byExchange[ticket.exchange] = nil }
        bySource[ticket.source, default: 1] -= 1
        if bySource[ticket.source] == 0 { bySource[ticket.source] = nil }
    }

    /// The network a source counts under: an IPv4 /24, an IPv6 /56 (one
    /// site's allocation: an attacker holds many addresses there, not many sites).
    public static func prefix(of address: [UInt8]) -> [UInt8] {
        address.count == 4 ? Array(address.prefix(3)) : Array(address.prefix(7))
    }
}

public struct RefusedHold: Error, Sendable, CustomStringConvertible {
    public let cap: HoldBudget.Refusal
    public var description: String {
        switch cap {
        case .exchange: "the per-exchange cap on held requests is reached"
        case .source: "the cap on held requests from this network is reached"
        case .total: "the cap on held requests is reached"
        }
    }
}
