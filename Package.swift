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
    .executableTarget(
        name: "kxover-bench",
        dependencies: ["KXOver", .product(name: "SwiftASN1", package: "swift-asn1")],
        path: "Benchmarks/kxover-bench"
    ),
    .testTarget(name: "KXOverTests", dependencies: ["KXOver"], exclude: ["Vectors"]),
]

if fuzzing {
    // Built only by scripts/fuzz, which instruments every module with
    // -sanitize=fuzzer,address and links libFuzzer's runtime.
    targets.append(.target(name: "CFuzzDriver", path: "Fuzz/CFuzzDriver"))
    targets.append(.executableTarget(
        name: "kxover-fuzz",
        dependencies: ["KXOver", "CFuzzDriver"],
        path: "Fuzz/kxover-fuzz"
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
