// Building the trust graph of a topology from its nodes' trust records.

import Foundation
import Gossip
import Trust

extension TrustGraph {
    /// The graph whose row i is `records[i]` (node i's record, nil when it has none),
    /// with candidates mapped to nodes by public key.
    public static func assemble(nodes: [String], keys: [PublicKey], records: [TrustRecord?]) -> TrustGraph {
        let column = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1.description, $0) })
        var weights = Array(repeating: Array(repeating: 0.0, count: nodes.count), count: nodes.count)
        for (i, record) in records.enumerated() {
            guard let record else { continue }
            for (id, w) in zip(record.candidates, record.weights) {
                if let j = column[id] { weights[i][j] += w }
            }
        }
        return TrustGraph(
            nodes: nodes, weights: weights, rounds: records.map { $0?.round },
            strategies: records.map { $0.map { "\($0.strategy)" } },
            scoredRounds: records.contains { $0?.scoredRound != nil } ? records.map { $0?.scoredRound } : nil)
    }

    /// The graph of `topology` from its nodes' state folders: each node's latest record,
    /// or its record of `round` when given.
    public static func fromStateFolders(_ topology: Topology, round: Int? = nil) throws -> TrustGraph {
        let keys = try NodeRuntime.memberKeys(topology)
        let records = try topology.nodes.indices.map { i -> TrustRecord? in
            let state = StateDirectory(path: topology.stateDirectory(of: i))
            let committed = try state.progress()?.round ?? 0
            let history = try state.trustHistory(upTo: committed)
            if let round { return history.last { $0.round == round } }
            return history.last
        }
        return assemble(nodes: topology.nodes.map(\.name), keys: keys, records: records)
    }

    /// Mean weight a node puts on members of its own group, and on others, for groups
    /// given as node indices (e.g. the clusters of a topology, or nodes sharing a source).
    public func groupWeights(groups: [[Int]]) -> (inGroup: Double, outOfGroup: Double) {
        var group = Array(repeating: -1, count: nodes.count)
        for (g, members) in groups.enumerated() { for i in members { group[i] = g } }
        var inSum = 0.0, outSum = 0.0, rows = 0
        for (i, row) in weights.enumerated() where rounds[i] != nil {
            rows += 1
            for (j, w) in row.enumerated() {
                if group[i] == group[j] { inSum += w } else { outSum += w }
            }
        }
        guard rows > 0 else { return (0, 0) }
        return (inSum / Double(rows), outSum / Double(rows))
    }
}
