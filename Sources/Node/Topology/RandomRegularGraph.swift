// RandomRegularGraph: a connected k-regular graph on n nodes drawn from a seed, for
// topologies of many devices. The ring lattice of `Topology.edges(shape: .kRegular)`
// keeps every node's neighbourhood on an arc, so an update with TTL t reaches only the
// 2·(k/2)·t nearest nodes; a random regular graph is locally a tree, so it reaches
// about k·Σ_{i<t}(k−1)^i distinct nodes (README, Performance, Scale) and its diameter
// grows as log n.
//
// The draw pairs the n·k "half-edges" one pair at a time (the pairing model of Bollobás
// with the step of Steger and Wormald): each step joins two half-edges of distinct,
// not yet adjacent nodes; a draw that gets stuck, or ends disconnected, starts again
// from the next stretch of the same random stream. The same (n, k, seed) always gives
// the same edges.

import Learning

/// Why no graph can be drawn.
public enum RandomRegularGraphError: Error, Equatable, CustomStringConvertible {
    /// n·k is odd: every edge has two ends, so the degrees must sum to an even number.
    case oddDegreeSum(nodes: Int, degree: Int)
    /// k ≥ n: a node has at most n − 1 distinct neighbours.
    case degreeTooLarge(nodes: Int, degree: Int)
    /// k < 1, or k = 1 with more than two nodes: no such graph is connected.
    case cannotConnect(nodes: Int, degree: Int)

    public var description: String {
        switch self {
        case .oddDegreeSum(let n, let k):
            "a \(k)-regular graph on \(n) nodes does not exist: nodes × degree (\(n * k)) must be even"
        case .degreeTooLarge(let n, let k):
            "the degree (\(k)) must be less than the number of nodes (\(n))"
        case .cannotConnect(let n, let k):
            "no \(k)-regular graph on \(n) nodes is connected"
        }
    }
}

public enum RandomRegularGraph {
    /// Checks that a connected k-regular graph on n nodes exists.
    public static func check(nodes n: Int, degree k: Int) throws(RandomRegularGraphError) {
        if n > 1 && k >= n { throw .degreeTooLarge(nodes: n, degree: k) }
        if (n * k) % 2 == 1 { throw .oddDegreeSum(nodes: n, degree: k) }
        if n > 1 && (k < 1 || (k == 1 && n > 2)) { throw .cannotConnect(nodes: n, degree: k) }
    }

    /// The undirected edges (i < j, sorted) of a connected k-regular graph on n nodes
    /// drawn from `seed`.
    public static func edges(nodes n: Int, degree k: Int, seed: UInt64) throws(RandomRegularGraphError) -> [(Int, Int)] {
        try check(nodes: n, degree: k)
        guard n > 1 else { return [] }
        var random = SeededRandom(seed: seed)
        while true {
            if let adjacency = draw(nodes: n, degree: k, using: &random), isConnected(adjacency) {
                var result: [(Int, Int)] = []
                for a in 0..<n { for b in adjacency[a].sorted() where a < b { result.append((a, b)) } }
                return result
            }
        }
    }

    /// One attempt of the pairing: the neighbour sets, or nil when it got stuck.
    static func draw(nodes n: Int, degree k: Int, using random: inout SeededRandom) -> [Set<Int>]? {
        var adjacency = Array(repeating: Set<Int>(), count: n)
        var open = (0..<(n * k)).map { $0 / k }  // each node once per half-edge still free
        func suitable(_ i: Int, _ j: Int) -> Bool { open[i] != open[j] && !adjacency[open[i]].contains(open[j]) }
        while !open.isEmpty {
            var pair: (Int, Int)?
            // Random tries first; when they keep failing, look at every pair left.
            for _ in 0..<32 {
                let i = Int.random(in: 0..<open.count, using: &random), j = Int.random(in: 0..<open.count, using: &random)
                if suitable(i, j) { pair = (i, j); break }
            }
            if pair == nil {
                var all: [(Int, Int)] = []
                for i in open.indices { for j in (i + 1)..<open.count where suitable(i, j) { all.append((i, j)) } }
                guard !all.isEmpty else { return nil }
                pair = all[Int.random(in: 0..<all.count, using: &random)]
            }
            let (i, j) = pair!
            let (a, b) = (open[i], open[j])
            adjacency[a].insert(b)
            adjacency[b].insert(a)
            for index in [max(i, j), min(i, j)] { open.swapAt(index, open.count - 1); open.removeLast() }
        }
        return adjacency
    }

    /// Whether every node is reachable from node 0.
    static func isConnected(_ adjacency: [Set<Int>]) -> Bool {
        var seen = Set([0]), frontier = [0]
        while let a = frontier.popLast() {
            for b in adjacency[a] where seen.insert(b).inserted { frontier.append(b) }
        }
        return seen.count == adjacency.count
    }

    /// Hop distances from `source` over `edges` on n nodes (nil: unreachable); the nodes
    /// within distance t are those an update with TTL t reaches.
    public static func distances(from source: Int, edges: [(Int, Int)], nodes n: Int) -> [Int?] {
        var adjacency = Array(repeating: [Int](), count: n)
        for (a, b) in edges { adjacency[a].append(b); adjacency[b].append(a) }
        var distance = [Int?](repeating: nil, count: n)
        distance[source] = 0
        var queue = [source], head = 0
        while head < queue.count {
            let a = queue[head]
            head += 1
            for b in adjacency[a] where distance[b] == nil {
                distance[b] = distance[a]! + 1
                queue.append(b)
            }
        }
        return distance
    }
}
