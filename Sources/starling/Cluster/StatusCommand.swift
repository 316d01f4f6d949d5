import ArgumentParser
import Foundation
import Node

/// `starling status`: one line per node.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every node's round, loss, perplexity, peers and traffic.",
        discussion: """
            Running nodes answer on their control endpoints; stopped nodes are read from
            their state folders.

            Example:
              $ starling status --topology topologies/demo.toml
            """
    )

    @Option(help: "The topology file.")
    var topology: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let t: Topology
        do { t = try TopologyParser.load(path: topology) } catch { throw UserError("\(error)") }
        let statuses = try ClusterReader.statuses(t)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(statuses.compactMap { $0 }), as: UTF8.self))
        } else {
            print(StatusTable.render(zip(t.nodes.map(\.name), statuses).map { ($0, $1) }), terminator: "")
        }
    }
}
