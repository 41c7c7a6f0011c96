import Foundation
import KXOver
@_exported import KXTestSupport

/// Test vectors shipped beside the tests (our own syn-* and MIT captures).
enum Vectors {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Vectors")

    static func load(_ name: String) -> [UInt8] {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(name)) else {
            fatalError("missing test vector \(name)")
        }
        return Array(data)
    }
}

/// The values `make_vectors.py` used for the syn-* vectors.
enum SynValues {
    static let clientRealm = "PIXIE.DEMO.ARPA2.ORG"
    static let serviceRealm = "UNICORN.DEMO.ARPA2.ORG"

    static func time(_ text: String) -> KerberosTime { try! KerberosTime(text) }

    static let request = KXOffer(
        requestTime: time("20190306121630Z"),
        salt: Hex.decode("05d43731b88af6e83fc5e543ba0e4f3d729834240b9369a1c2925ea764ee073c")!,
        kxName: .crossover(client: clientRealm, service: serviceRealm),
        kvno: 3052, etypes: [18, 20, 26],
        from: time("20190306121630Z"), till: time("20190614121630Z"),
        myName: .kdc(of: clientRealm))

    static let reply = KXOffer(
        requestTime: time("20190306121630Z"),
        salt: Array(0x20...0x3F),
        kxName: .crossover(client: clientRealm, service: serviceRealm),
        kvno: 23061, etypes: [17, 18, 20],
        from: time("20190306121631Z"), till: time("20190320121631Z"),
        myName: .kdc(of: serviceRealm))
}

/// An offer pair that passes every check at `now`, for the checklist tests.
enum Fixture {
    static let now = try! KerberosTime("20261128120000Z")
    static let client = "CLIENT.TEST"
    static let service = "SERVICE.TEST"

    static func request(now: KerberosTime = now) -> KXOffer {
        OfferBuilder.request(clientRealm: client, serviceRealm: service, now: now, salt: Array(repeating: 0xA5, count: 32),
                             kvno: KvnoPolicy.next(now: now, existing: [])!, etypes: [17, 18, 19, 20])
    }

    static func reply(to request: KXOffer, now: KerberosTime = now) -> KXOffer {
        OfferBuilder.reply(to: request, serviceRealm: service, now: now, salt: Array(repeating: 0x5A, count: 32),
                           kvno: KvnoPolicy.reply(now: now, requested: request.kvno, existing: [])!, etypes: [18, 20, 26])
    }
}
