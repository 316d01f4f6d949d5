import ArgumentParser
import Foundation
import Gossip
import Node
import Trust

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

/// Reads a cluster's state: from control endpoints where nodes run, else state folders.
enum ClusterReader {
    static let context = try? ZMQContext()

    /// Each node's status, or nil when it neither answers nor has a state folder. A node
    /// that does not answer is shown in `offlinePhase` unless it has finished.
    static func statuses(_ t: Topology, offlinePhase: NodeStatus.Phase = .stopped) throws -> [NodeStatus?] {
        try t.nodes.indices.map { i in
            let state = StateDirectory(path: t.stateDirectory(of: i))
            if let live = ask(state, "status").flatMap({ try? JSONDecoder().decode(NodeStatus.self, from: $0) }) { return live }
            guard FileManager.default.fileExists(atPath: state.path) else { return nil }
            let progress = try state.progress()
            let last = try state.metrics(upTo: progress?.round ?? 0).last
            let settings = t.nodes[i].settings
            return NodeStatus(
                name: t.nodes[i].name, phase: progress?.round == settings.rounds ? .finished : offlinePhase,
                round: progress?.round ?? 0, rounds: settings.rounds, loss: last?.trainLoss, testPerplexity: last?.testPerplexity)
        }
    }

    /// The trust graph, with rows from running nodes where they answer.
    static func trustGraph(_ t: Topology, round: Int?) throws -> TrustGraph {
        if round == nil, t.nodes.indices.contains(where: { ask(StateDirectory(path: t.stateDirectory(of: $0)), "trust") != nil }) {
            let keys = try NodeRuntime.memberKeys(t)
            let records = try t.nodes.indices.map { i -> TrustRecord? in
                let state = StateDirectory(path: t.stateDirectory(of: i))
                if let reply = ask(state, "trust"), let decoded = try? JSONDecoder().decode(TrustReply.self, from: reply) {
                    return decoded.record
                }
                return try state.trustHistory(upTo: try state.progress()?.round ?? 0).last
            }
            return TrustGraph.assemble(nodes: t.nodes.map(\.name), keys: keys, records: records)
        }
        return try TrustGraph.fromStateFolders(t, round: round)
    }

    private static func ask(_ state: StateDirectory, _ command: String) -> Data? {
        guard let context, let endpoint = ControlClient.endpoint(stateDirectory: state.path) else { return nil }
        return try? ControlClient.ask(ControlRequest(command: command), endpoint: endpoint, context: context, timeoutMilliseconds: 500)
    }
}
