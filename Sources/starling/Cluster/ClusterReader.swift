import Foundation
import Gossip
import Node
import Trust

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
            let metrics = try state.metrics(upTo: progress?.round ?? 0)
            let settings = t.nodes[i].settings
            return NodeStatus(
                name: t.nodes[i].name, phase: progress?.round == settings.rounds ? .finished : offlinePhase,
                round: progress?.round ?? 0, rounds: settings.rounds, loss: metrics.last?.trainLoss, testPerplexity: metrics.lastTestPerplexity)
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
