// `starling bench`: benchmarks that print JSON figures.

import ArgumentParser

/// `starling bench <name>`: measures one part of the node and prints JSON.
///
/// ```
/// $ starling bench gossip
/// {"payloadBytes":2360000,"gossip":{...},...}
/// ```
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure parts of the node; each benchmark prints its figures as JSON.",
        discussion: """
            Each subcommand times one part on synthetic inputs and prints its figures as
            JSON, with a baseline measured in the same run, so runs can be compared.

            Example:
              $ swift build -c release
              $ .build/release/starling bench train
              $ .build/release/starling bench gossip
              $ .build/release/starling bench trust --shape tiny --candidates 8
            """,
        subcommands: [BenchTrain.self, BenchGossip.self, BenchTrust.self, BenchGenerate.self]
    )
}
