import ArgumentParser
import Foundation
import Node

/// `starling trust`: the trust graph of a topology.
struct TrustCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Show the trust graph: the weight every node gives every other.",
        discussion: """
            Rows are read from the running nodes' control endpoints, or from their state
            folders when they are stopped. Row i, column j is the weight node i gave
            node j in its latest aggregation (or in --round R).

            Example:
              $ starling trust --topology topologies/demo.toml
              $ starling trust --topology topologies/demo.toml --format svg > trust.svg
            """
    )

    @Option(help: "The topology file.")
    var topology: String

    @Option(help: "Output: \(TrustGraph.Format.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: String = "heatmap"

    @Option(help: "Show this round's rows instead of the latest.")
    var round: Int?

    @Flag(help: "No colours in the heatmap.")
    var noColor = false

    func validate() throws {
        guard TrustGraph.Format(rawValue: format) != nil else {
            throw ValidationError("--format must be one of \(TrustGraph.Format.allCases.map(\.rawValue).joined(separator: ", ")), got \(format)")
        }
        if let round { try requireAtLeast(1, "--round", round) }
    }

    func run() throws {
        let f = TrustGraph.Format(rawValue: format)!
        let t: Topology
        do { t = try TopologyParser.load(path: topology) } catch { throw UserError("\(error)") }
        let graph: TrustGraph
        do { graph = try ClusterReader.trustGraph(t, round: round) } catch { throw UserError("\(error)") }
        let color = !noColor && isatty(STDOUT_FILENO) != 0
        print(graph.rendered(as: f, color: color, title: "\(t.name): trust weights"), terminator: "")
    }
}
