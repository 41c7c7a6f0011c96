import Foundation
import KXKDB
import KXOver

// Key-store benchmark against a real KDB (scripts/bench creates the realm):
// kxover's full write of a new crossover principal (create with policy,
// random-to-key, lock probe, kvno check, setkey, validity record) against the
// bare kadm5_setkey_principal_4 call on an existing principal, measured in the
// same run on the same open handle. Bounded: a fixed count of operations.

let arguments = CommandLine.arguments
guard arguments.count >= 4 else {
    print("usage: kxover-kdb-bench REALM KDC_PROFILE KRB5_CONFIG [COUNT]")
    exit(2)
}
let realm = arguments[1]
let count = arguments.count > 4 ? Int(arguments[4]) ?? 300 : 300
let session = try KadminSession(KadminConfiguration(realm: realm, mode: .local, profileFiles: [arguments[2], arguments[3]]))
let now = KerberosTime(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!
let etypes: [Int32] = [17, 18, 19, 20]

func material(_ seed: UInt8) -> (KeyMaterial, KeySchedule.Layout) {
    let layout = try! KeySchedule.Layout(consecutive: etypes)
    let m = KeyMaterial(count: layout.exportLength)
    m.withUnsafeMutableBytes { for i in 0..<$0.count { $0[i] = seed &+ UInt8(truncatingIfNeeded: i) } }
    return (m, layout)
}

func milliseconds(_ body: () throws -> Void) rethrows -> [Double] {
    var samples: [Double] = []
    for _ in 0..<count {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    return samples.sorted()
}

// Baseline: bare setkey of 4 keys on one existing principal.
let base = Principal.crossover(client: realm, service: "BASELINE.TEST")
let (seedMaterial, layout) = material(1)
_ = try session.write(CrossoverKeyWrite(principal: base, kvno: 2, material: seedMaterial, layout: layout, from: now,
                                        till: now.adding(seconds: 86_400)))
var kvno: UInt32 = 3
let bare = try seedMaterial.withUnsafeBytes { bytes in
    try milliseconds {
        let keys = layout.slots.map { KadminSession.RawKey(etype: $0.etype, bytes: UnsafeRawBufferPointer(rebasing: bytes[$0.range])) }
        try session.bareSetKey(base, kvno: kvno, keys: keys)
        kvno += 1
    }
}

// kxover's write: a new crossover principal each time, as a first exchange makes.
var index = 0
let full = try milliseconds {
    let (m, l) = material(UInt8(truncatingIfNeeded: index))
    let principal = Principal.crossover(client: realm, service: "R\(index).BENCH.TEST")
    _ = try session.write(CrossoverKeyWrite(principal: principal, kvno: 31_280, material: m, layout: l, from: now,
                                            till: now.adding(seconds: 86_400)))
    index += 1
}

func median(_ s: [Double]) -> Double { s[s.count / 2] }
func p99(_ s: [Double]) -> Double { s[min(s.count - 1, s.count * 99 / 100)] }
func fmt(_ v: Double) -> String { String(format: "%.3f", v) }
print("key store (local kadm5, \(etypes.count) keys per write, \(count) writes each, open handle)")
print("  measurement                                   median ms   p99 ms   writes/s   ratio to bare setkey")
print("  bare kadm5_setkey_principal_4 (baseline)      \(fmt(median(bare)).padding(toLength: 10, withPad: " ", startingAt: 0))  \(fmt(p99(bare)).padding(toLength: 7, withPad: " ", startingAt: 0))  \(String(Int(1000 / median(bare))).padding(toLength: 9, withPad: " ", startingAt: 0))  1.0")
print("  kxover write, new principal                   \(fmt(median(full)).padding(toLength: 10, withPad: " ", startingAt: 0))  \(fmt(p99(full)).padding(toLength: 7, withPad: " ", startingAt: 0))  \(String(Int(1000 / median(full))).padding(toLength: 9, withPad: " ", startingAt: 0))  \(String(format: "%.2f", median(full) / median(bare))) (time)")

// Privilege separation: the same store in process and through the keeper channel.
let (direct, throughKeeper) = try KeeperCost.measure(realm: realm, profiles: [arguments[2], arguments[3]], count: count, now: now)
let extra = median(throughKeeper) - median(direct)
print("key store through the keeper (privsep) against in process, the daemon's asynchronous path, \(count) new principals each")
print("  measurement                                   median ms   p99 ms   ratio")
print("  in process: KadmKeyStore on the loop (base)   \(fmt(median(direct)).padding(toLength: 10, withPad: " ", startingAt: 0))  \(fmt(p99(direct)).padding(toLength: 7, withPad: " ", startingAt: 0))  1.0")
print("  through the keeper: socketpair + checks       \(fmt(median(throughKeeper)).padding(toLength: 10, withPad: " ", startingAt: 0))  \(fmt(p99(throughKeeper)).padding(toLength: 7, withPad: " ", startingAt: 0))  \(String(format: "%.2f", median(throughKeeper) / median(direct)))")
print("  keeper: \(String(format: "%+.3f", extra)) ms a store (target: at most +0.200)")

// Scaling: a new principal's store with a thousand more peer realms held
// than at the start, max_peer_realms set (as kxoverd always runs) but far:
// the cap must not cost a pass over the KDB per new peer.
var capped = KadminConfiguration(realm: realm, mode: .local, profileFiles: [arguments[2], arguments[3]])
capped.maxPeerRealms = 100_000
let cappedSession = try KadminSession(capped)
var peerIndex = 0
@MainActor func newPeerStores(_ n: Int) throws -> [Double] {
    var samples: [Double] = []
    for _ in 0..<n {
        let (m, l) = material(UInt8(truncatingIfNeeded: peerIndex))
        let principal = Principal.crossover(client: realm, service: "P\(peerIndex).SCALE.TEST")
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try cappedSession.write(CrossoverKeyWrite(principal: principal, kvno: 31_280, material: m, layout: l, from: now,
                                                      till: now.adding(seconds: 86_400)))
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        peerIndex += 1
    }
    return samples.sorted()
}
let peersBefore = try cappedSession.managedKeySets().count
let few = try newPeerStores(100)
_ = try newPeerStores(900)
let many = try newPeerStores(100)
print("new principals as the peer realms held grow (max_peer_realms \(capped.maxPeerRealms!), 100 writes each)")
print("  measurement                                   median ms   p99 ms   ratio")
func row(_ label: String, _ samples: [Double], _ ratio: String) {
    print("  \(label.padding(toLength: 46, withPad: " ", startingAt: 0))\(fmt(median(samples)).padding(toLength: 10, withPad: " ", startingAt: 0))  \(fmt(p99(samples)).padding(toLength: 7, withPad: " ", startingAt: 0))  \(ratio)")
}
row("with \(peersBefore) peers held (base)", few, "1.0")
row("with \(peersBefore + 1000) peers held", many, String(format: "%.2f   (goal: about 1)", median(many) / median(few)))
