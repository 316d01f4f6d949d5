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
            Example:
              $ swift build -c release
              $ .build/release/starling bench gossip
            """,
        subcommands: [BenchGossip.self]
    )
}
