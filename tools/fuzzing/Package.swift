// swift-tools-version:6.1
// libFuzzer targets over Starling's parsers of untrusted input. Built apart from the
// main package, with the fuzzer and address sanitizers, and linked with lld (the
// system's gold fails on these objects). `tools/fuzz` builds and runs them:
//   swift build -c release -Xswiftc -sanitize=fuzzer,address --toolset <lld toolset>
import PackageDescription

let package = Package(
    name: "StarlingFuzz",
    dependencies: [.package(name: "Starling", path: "../..")],
    targets: [
        .target(name: "CLibFuzzer"),
        // The header frame, the signature and digest checks, HELLO and SYNC payloads.
        .executableTarget(name: "FuzzEnvelope", dependencies: ["CLibFuzzer", .product(name: "Gossip", package: "Starling")]),
        // safetensors files and PEFT adapters built from them.
        .executableTarget(name: "FuzzAdapter", dependencies: ["CLibFuzzer", .product(name: "Learning", package: "Starling")]),
        // Topology TOML files.
        .executableTarget(name: "FuzzTopology", dependencies: ["CLibFuzzer", .product(name: "Node", package: "Starling")]),
    ],
    swiftLanguageModes: [.v6]
)
