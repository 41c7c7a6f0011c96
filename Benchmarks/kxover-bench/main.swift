import KXOver
import SwiftASN1

// Codec benchmark: KX-REQ encode + strict decode per second, against a baseline
// measured in the same run: swift-asn1's bare DER tree parse of the same bytes.
// Bounded in time: each measurement runs for a fixed wall-clock budget.

let budget = Duration.milliseconds(Int64(CommandLine.arguments.dropFirst().first.flatMap(Int64.init) ?? 1500))
let clock = ContinuousClock()

@inline(never) func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

/// Operations per second of `body`, run in batches until the budget is spent.
func rate(_ body: () throws -> Void) rethrows -> Double {
    var count = 0
    let start = clock.now
    while clock.now - start < budget {
        for _ in 0..<100 { try body() }
        count += 100
    }
    let elapsed = clock.now - start
    return Double(count) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

let now = try KerberosTime("20261128120000Z")
let offer = OfferBuilder.request(clientRealm: "CLIENT.EXAMPLE.ORG", serviceRealm: "SERVICE.EXAMPLE.ORG", now: now,
                                 salt: Array(repeating: 0xA5, count: 32), kvno: 31_280, etypes: [17, 18, 19, 20])
let message = KXMessage(kind: .request, offer: offer)
let bytes = message.derEncoded

let baseline = try rate { blackHole(try DER.parse(bytes)) }
let encode = rate { blackHole(message.derEncoded) }
let decode = try rate { blackHole(try KXMessage(derEncoded: bytes)) }
let roundTrip = try rate { blackHole(try KXMessage(derEncoded: message.derEncoded)) }

func fmt(_ v: Double) -> String { String(Int(v.rounded())) }
func ratio(_ v: Double) -> String {
    let r = (v / baseline * 100).rounded() / 100
    return "\(r)"
}
print("KX-REQ codec (\(bytes.count) bytes), \(budget) per measurement")
print("  measurement                          ops/s   ratio to swift-asn1 DER.parse")
print("  swift-asn1 DER.parse (baseline)  \(fmt(baseline).leftPad(9))   1.0")
print("  encode                           \(fmt(encode).leftPad(9))   \(ratio(encode))")
print("  strict decode                    \(fmt(decode).leftPad(9))   \(ratio(decode))")
print("  encode + strict decode           \(fmt(roundTrip).leftPad(9))   \(ratio(roundTrip))")

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
