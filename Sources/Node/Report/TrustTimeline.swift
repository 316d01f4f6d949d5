// How trust and perplexity evolved over a run: the trust graph of every aggregation
// round and each node's test perplexity after every round, read from the state folders.
// The data behind `starling trust --format html` and `starling trust --watch`.

import Foundation
import Trust

/// The trust graph of every round that aggregated, and each node's test perplexity.
public struct TrustTimeline: Sendable, Equatable, Codable {
    /// The topology's name.
    public var name: String
    /// Node names, in topology order.
    public var nodes: [String]
    /// Each node's kind of text where the topology says (the source its mixture weighs
    /// most), else nil: lets a picture show whether trust stays within a kind.
    public var groups: [String?]
    /// Rounds in which at least one node aggregated, ascending.
    public var rounds: [Int]
    /// graphs[k]: the trust graph of rounds[k]. A node without a record of that round
    /// has a row of zeros and a nil round, exactly as `starling trust --round` shows it.
    public var graphs: [TrustGraph]
    /// testPerplexity[i][r - 1]: node i's test perplexity after round r, for r from 1 to
    /// the latest round any node completed; nil where node i has not got that far.
    public var testPerplexity: [[Double?]]

    public init(name: String, nodes: [String], groups: [String?], rounds: [Int], graphs: [TrustGraph], testPerplexity: [[Double?]]) {
        precondition(rounds.count == graphs.count && groups.count == nodes.count && testPerplexity.count == nodes.count)
        self.name = name
        self.nodes = nodes
        self.groups = groups
        self.rounds = rounds
        self.graphs = graphs
        self.testPerplexity = testPerplexity
    }

    /// The latest round with a trust graph, if any.
    public var latestRound: Int? { rounds.last }

    /// The graph of `round`, if that round aggregated.
    public func graph(round: Int) -> TrustGraph? {
        rounds.firstIndex(of: round).map { graphs[$0] }
    }

    /// The timeline of `topology` from its nodes' committed state.
    public static func fromStateFolders(_ topology: Topology) throws -> TrustTimeline {
        let keys = try NodeRuntime.memberKeys(topology)
        var histories: [[TrustRecord]] = [], perplexities: [[Int: Double]] = []
        for i in topology.nodes.indices {
            let state = StateDirectory(path: topology.stateDirectory(of: i))
            let committed = try state.progress()?.round ?? 0
            histories.append(try state.trustHistory(upTo: committed))
            var byRound: [Int: Double] = [:]
            for m in try state.metrics(upTo: committed) {
                if let p = m.testPerplexity, p.isFinite { byRound[m.round] = p }
            }
            perplexities.append(byRound)
        }
        let rounds = Set(histories.flatMap { $0.map(\.round) }).sorted()
        let names = topology.nodes.map(\.name)
        let graphs = rounds.map { r in
            TrustGraph.assemble(nodes: names, keys: keys, records: histories.map { h in h.last { $0.round == r } })
        }
        let lastRound = perplexities.compactMap { $0.keys.max() }.max() ?? 0
        let groups = topology.nodes.map { n -> String? in
            guard let m = n.mixture, let k = m.indices.max(by: { m[$0] < m[$1] }), topology.sources.indices.contains(k) else { return nil }
            return topology.sources[k]
        }
        return TrustTimeline(
            name: topology.name, nodes: names, groups: groups, rounds: rounds, graphs: graphs,
            testPerplexity: perplexities.map { p in (0..<lastRound).map { p[$0 + 1] } })
    }
}

extension TrustGraph {
    /// Entropy (in nats) of each node's row; nil for a row without a record.
    public var rowEntropies: [Double?] {
        weights.indices.map { i in
            rounds[i] == nil ? nil : -weights[i].reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) }
        }
    }

    /// How far this graph moved from `previous`: the largest change of one weight (and
    /// whose row and column it is in) and the mean absolute change over all cells.
    public func change(since previous: TrustGraph) -> (largest: Double, from: Int, to: Int, mean: Double) {
        var largest = 0.0, from = 0, to = 0, sum = 0.0
        for i in weights.indices {
            for j in weights[i].indices {
                let d = abs(weights[i][j] - previous.weights[i][j])
                sum += d
                if d > largest { (largest, from, to) = (d, i, j) }
            }
        }
        let cells = max(1, nodes.count * nodes.count)
        return (largest, from, to, sum / Double(cells))
    }
}
