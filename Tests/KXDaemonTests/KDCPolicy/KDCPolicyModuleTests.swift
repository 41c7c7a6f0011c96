import Foundation
import Testing

/// libkxover-kdcpolicy.so's decision, dlopen'd from the build directory as
/// krb5kdc loads it. The module against real KDCs is scripts/e2e-transit's;
/// here, the rule itself: who rides a crossover key.
struct KDCPolicyModule: @unchecked Sendable {
    typealias Decide = @convention(c) (UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, Int32,
                                       UnsafePointer<UnsafePointer<CChar>?>?, Int) -> Int32
    typealias IsKXOverAttribute = @convention(c) (UnsafePointer<CChar>?) -> Int32
    typealias InitVT = @convention(c) (OpaquePointer?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32

    // include/CKDCPolicyModule.h
    static let pass: Int32 = 0, allowed: Int32 = 1, refused: Int32 = 2
    static let pluginVersionNotSupported: Int32 = -1750600192

    let decide: Decide
    let isKXOverAttribute: IsKXOverAttribute
    let initvt: InitVT

    static let loaded: Result<KDCPolicyModule, TestFailureText> = BuiltModule.open("libkxover-kdcpolicy.so").flatMap { module in
        let path = module.path
        func symbol<T>(_ name: String, _ type: T.Type) -> T? { module.symbol(name, type) }
        guard let decide = symbol("kx_onehop_decide", Decide.self),
              let isKXOver = symbol("kx_onehop_is_kxover_attribute", IsKXOverAttribute.self),
              let initvt = symbol("kdcpolicy_kxover_initvt", InitVT.self) else {
            return .failure(TestFailureText("\(path) lacks a symbol"))
        }
        return .success(KDCPolicyModule(decide: decide, isKXOverAttribute: isKXOver, initvt: initvt))
    }

    /// The decision for a client on a key owned by `owner` with these string attribute keys.
    func decision(owner: String, client: String, kxover: Bool = true, attributes: [String] = []) -> Int32 {
        let clientRealm = String(client[client.index(after: client.lastIndex(of: "@")!)...])
        let copies = attributes.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafePointer($0) }
        return pointers.withUnsafeBufferPointer {
            decide(owner, client, clientRealm, kxover ? 1 : 0, $0.baseAddress, $0.count)
        }
    }
}

@Suite("kdcpolicy module: one hop")
struct KDCPolicyModuleTests {
    let module: KDCPolicyModule
    init() throws { module = try KDCPolicyModule.loaded.get() }

    @Test func theKeysOwnRealmRidesIt() {
        #expect(module.decision(owner: "B.TEST", client: "bob@B.TEST") == KDCPolicyModule.pass)
        #expect(module.decision(owner: "B.TEST", client: "host/x.b.test@B.TEST", attributes: ["kxover-validity-31290"]) == KDCPolicyModule.pass)
    }

    @Test func anotherRealmsUserIsRefusedOnAKXOverKey() {
        #expect(module.decision(owner: "B.TEST", client: "alice@A.TEST", attributes: ["kxover-validity-31290"]) == KDCPolicyModule.refused)
        // Realm names are exact, as in Kerberos: a realm that differs only in case is another realm.
        #expect(module.decision(owner: "B.TEST", client: "alice@b.test") == KDCPolicyModule.refused)
    }

    @Test func aTrustMadeByHandIsLeftToMIT() {
        #expect(module.decision(owner: "B.TEST", client: "alice@A.TEST", kxover: false) == KDCPolicyModule.pass)
        #expect(module.decision(owner: "B.TEST", client: "alice@A.TEST", kxover: false, attributes: ["xr:@A.TEST"]) == KDCPolicyModule.pass)
    }

    @Test func theAdministratorAllowsARealmOrOneClient() {
        #expect(module.decision(owner: "B.TEST", client: "alice@A.TEST", attributes: ["xr:@A.TEST"]) == KDCPolicyModule.allowed)
        #expect(module.decision(owner: "B.TEST", client: "alice@A.TEST", attributes: ["xr:alice@A.TEST"]) == KDCPolicyModule.allowed)
        #expect(module.decision(owner: "B.TEST", client: "carol@A.TEST", attributes: ["xr:alice@A.TEST"]) == KDCPolicyModule.refused)
        #expect(module.decision(owner: "B.TEST", client: "erin@E.TEST", attributes: ["xr:@A.TEST"]) == KDCPolicyModule.refused)
    }

    @Test func allowancesAreExactNotPrefixesOrPatterns() {
        for key in ["xr:@A", "xr:@A.TEST.EXTRA", "xr:@*", "xr:@a.test", "xr:", "xr:alice", "XR:@A.TEST", "kxover-xr:@A.TEST"] {
            #expect(module.decision(owner: "B.TEST", client: "alice@A.TEST", attributes: [key]) == KDCPolicyModule.refused, "\(key)")
        }
    }

    @Test func kxoverKeysAreKnownByTheirValidityRecords() {
        #expect(module.isKXOverAttribute("kxover-validity-31290") == 1)
        #expect(module.isKXOverAttribute("kxover-validity-") == 1)
        #expect(module.isKXOverAttribute("kxover-maintainer") == 0)
        #expect(module.isKXOverAttribute("xr:@A.TEST") == 0)
        #expect(module.isKXOverAttribute(nil) == 0)
    }

    @Test func missingNamesPass() {
        #expect(module.decide(nil, "alice@A.TEST", "A.TEST", 1, nil, 0) == KDCPolicyModule.pass)
        #expect(module.decide("B.TEST", nil, nil, 1, nil, 0) == KDCPolicyModule.pass)
    }

    @Test func onlyMajorVersionOneIsAccepted() {
        var vtable = [UInt8](repeating: 0, count: 64)
        #expect(module.initvt(nil, 2, 0, &vtable) == KDCPolicyModule.pluginVersionNotSupported)
        #expect(module.initvt(nil, 1, 0, &vtable) == 0)
        // The vtable's first field is the module's name, "kxover".
        let name = vtable.withUnsafeBytes { $0.load(as: UnsafePointer<CChar>.self) }
        #expect(String(cString: name) == "kxover")
    }
}
