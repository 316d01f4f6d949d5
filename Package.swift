// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Starling",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "starling", targets: ["starling"]),
        .library(name: "Gossip", targets: ["Gossip"]),
        .library(name: "Learning", targets: ["Learning"]),
        .library(name: "Trust", targets: ["Trust"]),
        .library(name: "Node", targets: ["Node"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
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
        .target(
            name: "Node",
            dependencies: [
                "Gossip", "Learning", "Trust", .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "starling",
            dependencies: [
                "Gossip", "Learning", "Trust", "Node",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        .testTarget(name: "GossipTests", dependencies: ["Gossip"]),
        .testTarget(name: "LearningTests", dependencies: ["Learning"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TrustTests", dependencies: ["Trust"]),
        .testTarget(name: "NodeTests", dependencies: ["Node", "Gossip", "Learning", "Trust"]),
        .testTarget(name: "StarlingCLITests", dependencies: ["starling", "Gossip"]),
    ],
    swiftLanguageModes: [.v6]
)
