// swift-tools-version:6.0
import PackageDescription

// KXOVER: impromptu Kerberos realm crossover.
// Layers (lower never imports upper):
//   KXOver      pure core: DER messages, framing, offers, checks, key schedule, policy
//   kxover      admin CLI
let fuzzing = Context.environment["KXOVER_FUZZ"] == "1"

var targets: [Target] = [
    .target(
        name: "KXOver",
        dependencies: [.product(name: "SwiftASN1", package: "swift-asn1")]
    ),
    .executableTarget(
        name: "kxover",
        dependencies: [
            "KXOver",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]
    ),
    .executableTarget(name: "kxover-bench", dependencies: ["KXOver"], path: "Benchmarks/kxover-bench"),
    .testTarget(name: "KXOverTests", dependencies: ["KXOver"], exclude: ["Vectors"]),
]

if fuzzing {
    // Built only by scripts/fuzz: libFuzzer supplies main().
    targets.append(.executableTarget(
        name: "kxover-fuzz",
        dependencies: ["KXOver"],
        path: "Fuzz/kxover-fuzz",
        swiftSettings: [.unsafeFlags(["-parse-as-library", "-sanitize=fuzzer,address"])],
        linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]
    ))
}

let package = Package(
    name: "kxover",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "KXOver", targets: ["KXOver"]),
        .executable(name: "kxover", targets: ["kxover"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: targets
)
