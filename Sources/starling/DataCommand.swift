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

        func run() throws {
            let t: Topology
            do { t = try TopologyParser.load(path: topology) } catch { throw UserError("\(error)") }
            let sources = try t.sources.map {
                guard let s = TextSource(rawValue: $0) else {
                    throw UserError("\(topology): unknown source \"\($0)\"; data synth knows \(TextSource.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return s
            }
            guard !sources.isEmpty else { throw UserError("\(topology): list the text sources, e.g. sources = [\"prose\", \"code\"]") }
            var matrix: [[Double]] = []
            for (i, node) in t.nodes.enumerated() {
                let row = node.mixture ?? SyntheticText.defaultMixture(node: i, of: t.nodes.count, sourceCount: sources.count)
                matrix.append(row)
                let path = t.resolve(node.data)
                if FileManager.default.fileExists(atPath: path) && !force {
                    print("\(node.name)  \(node.data)  exists, kept (use --force to replace)")
                    continue
                }
                let text = SyntheticText.text(
                    sources: sources, mixture: row, byteCount: bytes, seed: seed ?? node.settings.seed, nodeIndex: i)
                try FileManager.default.createDirectory(
                    atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
                let mix = zip(sources, row).filter { $0.1 > 0 }.map { "\($0.0.rawValue)=\($0.1)" }.joined(separator: " ")
                print("\(node.name)  \(node.data)  \(text.utf8.count) bytes  \(mix)")
            }
            let csvPath = ((t.resolve(t.nodes[0].data) as NSString).deletingLastPathComponent as NSString)
                .appendingPathComponent("mixture.csv")
            var csv = "node," + sources.map(\.rawValue).joined(separator: ",") + "\n"
            for (node, row) in zip(t.nodes, matrix) { csv += node.name + "," + row.map { "\($0)" }.joined(separator: ",") + "\n" }
            try Data(csv.utf8).write(to: URL(fileURLWithPath: csvPath), options: .atomic)
        }
    }
}
