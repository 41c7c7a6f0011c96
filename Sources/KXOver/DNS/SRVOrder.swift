/// RFC 2782 target selection: ascending priority; within a priority, a
/// weighted random order (weight 0 entries are chosen last, among themselves
/// in random order). A single "." target means the service is not offered.
public enum SRVOrder {
    public static func arrange<G: RandomNumberGenerator>(_ records: [DNSRecords.SRV], using random: inout G) -> [DNSRecords.SRV] {
        let usable = records.filter { !$0.target.isEmpty }
        var ordered: [DNSRecords.SRV] = []
        for priority in Set(usable.map(\.priority)).sorted() {
            var group = usable.filter { $0.priority == priority }
            // Zero-weight records first in the list, as RFC 2782 suggests, so they rarely win.
            group.sort { ($0.weight == 0 ? 0 : 1) < ($1.weight == 0 ? 0 : 1) }
            while !group.isEmpty {
                let total = group.reduce(0) { $0 + Int($1.weight) }
                let pick = total == 0 ? Int.random(in: 0..<group.count, using: &random) : {
                    let threshold = Int.random(in: 0...total, using: &random)
                    var running = 0
                    for (i, record) in group.enumerated() {
                        running += Int(record.weight)
                        if running >= threshold && (record.weight > 0 || threshold == 0) { return i }
                    }
                    return group.count - 1
                }()
                ordered.append(group.remove(at: pick))
            }
        }
        return ordered
    }

    /// True when the answer says "no service here": exactly one record with target ".".
    public static func saysNoService(_ records: [DNSRecords.SRV]) -> Bool {
        records.count == 1 && records[0].target.isEmpty
    }
}
