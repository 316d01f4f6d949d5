import ArgumentParser
import Foundation
import Node

/// `starling data`: make local text for the nodes of a topology.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Make nodes' local text.",
        subcommands: [Synth.self]
    )

    /// `starling data synth`
    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write each node's text from generated sources, mixed by its mixture row.",
            discussion: """
                The sources are the topology's `sources` (\(TextSource.allCases.map(\.rawValue).joined(separator: ", "))).
                A node without a mixture row holds one source: nodes are split into
                contiguous groups, one per source. The matrix used is written to
                mixture.csv beside the first node's text. Same seed, same text.

                Example:
                  $ starling data synth --topology topologies/demo.toml
                  alice  data/demo/alice.txt  200000 bytes  prose=1
                """
        )

        @Option(help: "The topology file.")
        var topology: String

        @Option(help: "Bytes of text per node.")
        var bytes: Int = 200_000

        @Option(help: "Generator seed (default: the topology's seed).")
        var seed: UInt64?

        @Flag(help: "Replace existing text files.")
        var force = false

        func validate() throws {
            try requireAtLeast(1, "--bytes", bytes)
        }

        func run() throws {
            let t: Topology
            do { t = try TopologyParser.load(path: topology) } catch { throw UserError("\(error)") }
            let written: [SyntheticText.Written]
            do { written = try SyntheticText.write(topology: t, bytesPerNode: bytes, seed: seed, force: force) } catch {
                throw UserError("\(topology): \(error)")
            }
            for (w, node) in zip(written, t.nodes) {
                let mix = zip(t.sources, w.mixture).filter { $0.1 > 0 }.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
                if let bytes = w.bytes {
                    print("\(w.node)  \(node.data)  \(bytes) bytes  \(mix)")
                } else {
                    print("\(w.node)  \(node.data)  exists, kept (use --force to replace)")
                }
            }
        }
    }
}
