// swift-tools-version:6.0
import PackageDescription

// KXOVER: impromptu Kerberos realm crossover.
// Layers (lower never imports upper):
//   C bridges   CKerberos, CEvent
//   runtime     KXEventLoop (libevent; one loop thread owns each exchange)
//   KXOver      pure core: DER messages, framing, offers, checks, key schedule, policy
//   adapters    KXKDB (kadm5 key store), KXDNS (libunbound), TLSPool (PIOC V2 client + GnuTLS pool,
//               and the core's KXSession/PeerConnection ports and DANE's TLSA source on it)
//   kxover      admin CLI
let fuzzing = Context.environment["KXOVER_FUZZ"] == "1"

var targets: [Target] = [
    .target(
        name: "KXOver",
        dependencies: [.product(name: "SwiftASN1", package: "swift-asn1")]
    ),
    // C bridge to MIT krb5: profile, libkdb5, and a dlopen'd kadm5 table.
    .target(
        name: "CKerberos",
        cSettings: [.unsafeFlags(["-Wall", "-Wno-deprecated-declarations"])],
        linkerSettings: [
            .linkedLibrary("krb5"), .linkedLibrary("k5crypto"), .linkedLibrary("com_err"),
            .linkedLibrary("kdb5"), .linkedLibrary("dl"),
        ]
    ),
    .target(name: "CEvent", linkerSettings: [.linkedLibrary("event_core")]),
    // The hostrealm module krb5kdc loads (libkxover-hostrealm.so): asks kxoverd for a host's realm.
    // Plain C in the KDC: no Swift start files, no Swift runtime (nothing of it is referenced).
    .target(name: "CHostRealmModule", cSettings: [.unsafeFlags(["-Wall"])],
            linkerSettings: [.linkedLibrary("krb5"), .unsafeFlags(["-nostartfiles", "-static-stdlib"])]),
    // The kdcpolicy module krb5kdc loads (libkxover-kdcpolicy.so): one hop for kxover's keys.
    // Plain C in the KDC like the hostrealm module; reads the KDC's own KDB through libkdb5.
    .target(name: "CKDCPolicyModule", cSettings: [.unsafeFlags(["-Wall"])],
            linkerSettings: [.linkedLibrary("krb5"), .linkedLibrary("kdb5"), .unsafeFlags(["-nostartfiles", "-static-stdlib"])]),
    // Runtime: the single-threaded libevent loop every adapter is driven by.
    .target(name: "KXEventLoop", dependencies: ["CEvent"]),
    .systemLibrary(name: "CUnbound", pkgConfig: "libunbound", providers: [.apt(["libunbound-dev", "libevent-dev"])]),
    // Adapter: the DNSSEC-validating resolver on libunbound.
    .target(name: "KXDNS", dependencies: ["KXOver", "KXEventLoop", "CUnbound"]),
    // C bridges for the TLS Pool: SCM_RIGHTS fd passing, GnuTLS (+ DANE).
    .target(name: "CFDPass"),
    // The engine's privilege drop (setres[ug]id, prctl): syscalls Swift cannot call directly.
    .target(name: "CPrivsep"),
    .systemLibrary(name: "CGnuTLS", pkgConfig: "gnutls", providers: [.apt(["libgnutls28-dev"])]),
    // Adapter: the TLS Pool (PIOC V2 wire records, async client, GnuTLS pool, the core's ports on it).
    .target(name: "TLSPool", dependencies: ["KXOver", "KXEventLoop", "CFDPass", "CGnuTLS"]),
    // The pool as its own process: no KXDaemon, so no kadm5 or libkdb5 (scripts/check-packaging checks).
    .executableTarget(name: "tlspoold", dependencies: ["TLSPool", "KXDNS"]),
    // Adapter: crossover keys in the MIT KDB through kadm5 (the only kadm5 user).
    .target(name: "KXKDB", dependencies: ["KXOver", "CKerberos", "KXEventLoop"]),
    // Daemon layer: configuration (and, later, the event loop and front end).
    .target(name: "KXDaemon", dependencies: ["KXOver", "KXKDB", "KXDNS", "KXEventLoop", "TLSPool", "CPrivsep",
                                             .product(name: "Logging", package: "swift-log")]),
    .executableTarget(
        name: "kxover",
        dependencies: [
            "KXOver",
            "KXKDB",
            "KXDNS",
            "KXEventLoop",
            "KXDaemon",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]
    ),
    .executableTarget(
        name: "kxoverd",
        dependencies: ["KXDaemon", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                       .product(name: "Logging", package: "swift-log")]
    ),
    .executableTarget(
        name: "kxover-bench",
        dependencies: ["KXOver", .product(name: "SwiftASN1", package: "swift-asn1")],
        path: "Benchmarks/kxover-bench"
    ),
    .executableTarget(name: "kxover-dns-bench", dependencies: ["KXDNS", "KXEventLoop", "KXOver", "CUnbound"], path: "Benchmarks/kxover-dns-bench"),
    .executableTarget(name: "kxover-relay-bench", dependencies: ["KXDaemon", "KXEventLoop", "KXOver"], path: "Benchmarks/kxover-relay-bench"),
    .executableTarget(name: "kxover-tls-bench", dependencies: ["TLSPool", "TLSPoolHarness", "KXEventLoop"], path: "Benchmarks/kxover-tls-bench"),
    .executableTarget(name: "kxover-kdb-bench", dependencies: ["KXKDB", "KXOver", "KXDaemon", "KXEventLoop",
                                                           .product(name: "Logging", package: "swift-log")],
                      path: "Benchmarks/kxover-kdb-bench"),
    .executableTarget(name: "kxover-concurrency-bench", dependencies: ["KXDaemon", "KXDNS", "KXEventLoop", "KXOver", "TLSPool",
                                                                  .product(name: "Logging", package: "swift-log")],
                      path: "Benchmarks/kxover-concurrency-bench"),
    // The properties the fuzzers check, shared with the regression replay in the unit tests.
    .target(name: "KXFuzzChecks", dependencies: ["KXOver", "TLSPool"], path: "Fuzz/KXFuzzChecks"),
    // N full mutual handshakes through two pools on loopback, for tests and benchmarks.
    .target(name: "TLSPoolHarness", dependencies: ["TLSPool", "KXEventLoop", "KXOver"], path: "Benchmarks/TLSPoolHarness"),
    .testTarget(name: "KXOverTests", dependencies: ["KXOver", "KXTestSupport", "KXFuzzChecks"], exclude: ["Vectors"]),
    .testTarget(name: "KXKDBTests", dependencies: ["KXKDB", "KXOver", "KXEventLoop", "KXDaemon", "kxover",
                                               .product(name: "Logging", package: "swift-log")]),
    .testTarget(name: "KXEventLoopTests", dependencies: ["KXEventLoop"]),
    // Shared by the integration tests: a posix_spawn process runner.
    .target(name: "KXTestSupport", path: "Tests/KXTestSupport"),
    .testTarget(name: "KXDNSTests", dependencies: ["KXDNS", "KXOver", "KXEventLoop", "KXTestSupport"]),
    .testTarget(name: "KXDaemonTests", dependencies: ["KXDaemon", "KXOver", "KXEventLoop", "KXKDB", "KXDNS", "TLSPool", "KXTestSupport"]),
    .testTarget(name: "TLSPoolTests", dependencies: ["TLSPool", "KXOver", "KXEventLoop", "KXTestSupport", "KXFuzzChecks", "TLSPoolHarness"]),
]

if fuzzing {
    // Built only by scripts/fuzz, which instruments every module with
    // -sanitize=fuzzer,address and links libFuzzer's runtime.
    targets.append(.target(name: "CFuzzDriver", path: "Fuzz/CFuzzDriver"))
    targets.append(.executableTarget(
        name: "kxover-fuzz",
        dependencies: ["KXOver", "TLSPool", "KXFuzzChecks", "CFuzzDriver"],
        path: "Fuzz/kxover-fuzz"
    ))
}

let package = Package(
    name: "kxover",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "KXOver", targets: ["KXOver"]),
        .executable(name: "kxover", targets: ["kxover"]),
        .executable(name: "kxoverd", targets: ["kxoverd"]),
        .library(name: "kxover-hostrealm", type: .dynamic, targets: ["CHostRealmModule"]),
        .library(name: "kxover-kdcpolicy", type: .dynamic, targets: ["CKDCPolicyModule"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: targets
)
