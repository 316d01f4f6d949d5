// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Starling",
    // macOS 15: `Atomic` (Synchronization, in Learning's Parallel) and
    // `String(validating:as:)` (Gossip's control payloads) first ship there.
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "starling", targets: ["starling"]),
        .library(name: "Gossip", targets: ["Gossip"]),
        .library(name: "Learning", targets: ["Learning"]),
        .library(name: "Trust", targets: ["Trust"]),
        .library(name: "Schemes", targets: ["Schemes"]),
        .library(name: "Node", targets: ["Node"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // System libraries. zmq has no pkgConfig on purpose: Debian's libzmq.pc adds a
        // krb5 include path that SwiftPM warns about; the header lives in /usr/include.
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ"),
        .systemLibrary(
            name: "CSodium", path: "Sources/CSodium", pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(
            name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),

        .target(
            name: "Gossip",
            dependencies: ["CZeroMQ", "CSodium", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "Learning",
            dependencies: ["COpenBLAS", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Trust", dependencies: ["Learning"]),
        .target(name: "Schemes", dependencies: ["Learning", "Trust"]),
        .target(
            name: "Node",
            dependencies: [
                "Gossip", "Learning", "Trust", "Schemes", .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        .executableTarget(
            name: "starling",
            dependencies: [
                "Gossip", "Learning", "Trust", "Schemes", "Node",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        .testTarget(name: "GossipTests", dependencies: ["Gossip"]),
        .testTarget(name: "LearningTests", dependencies: ["Learning"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TrustTests", dependencies: ["Trust"]),
        .testTarget(name: "SchemesTests", dependencies: ["Schemes", "Learning", "Trust"]),
        .testTarget(name: "NodeTests", dependencies: ["Node", "Gossip", "Learning", "Trust", "Schemes"]),
        .testTarget(name: "StarlingCLITests", dependencies: ["starling", "Gossip", "Learning", "Trust", "Node"]),
    ],
    swiftLanguageModes: [.v6]
)
