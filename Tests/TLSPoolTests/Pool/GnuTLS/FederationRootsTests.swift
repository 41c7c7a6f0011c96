import Foundation
import Testing
@testable import TLSPool

/// peer_trust_anchors: a chain to a federation root passes, a self-made
/// certificate (however DANE-valid) does not, and a file without a root
/// fails at load, not in a handshake.
@Suite("TLS Pool federation roots")
struct FederationRootsTests {
    func der(_ file: String) throws -> [UInt8] { try TestCertificates.get().der(file) }

    @Test func aChainToTheRootPassesAndASelfMadeCertificateDoesNot() throws {
        let certs = try TestCertificates.get()
        let roots = try FederationRoots(file: certs.path("ca.crt"))
        #expect(roots.count == 1)
        #expect(roots.problem(with: [try der("kdc-c.crt")]) == nil, "kdc-c is issued by the root")
        #expect(roots.problem(with: [try der("kdc-c.crt"), try der("ca.crt")]) == nil, "...also with the root in the chain")
        #expect(roots.problem(with: [try der("kdc-a.crt")]) == "no chain to a federation root (no root signed it)")
        #expect(roots.problem(with: [[0x30, 0x03, 0x02, 0x01, 0x01]])?.hasPrefix("cannot read the peer's chain") == true)
    }

    @Test func aFileWithoutARootFailsAtLoad() throws {
        let certs = try TestCertificates.get()
        #expect(throws: TLSPoolSetupError.self) { try FederationRoots(file: certs.path("missing.crt")) }
        #expect(throws: TLSPoolSetupError.self) { try FederationRoots(file: certs.path("kdc-a.key")) }
        // The credential store loads them with the identity: a bad file fails the pool's start.
        var identity = certs.identity("kdc-a", host: "kdc.a.test")
        identity.peerTrustAnchorsFile = certs.path("missing.crt")
        #expect(throws: TLSPoolSetupError.self) { try CredentialStore([identity]) }
    }
}
