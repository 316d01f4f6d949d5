import Testing

@testable import Node

/// A random regular graph has every node at degree k, no self loop, no edge twice, one
/// component, and depends on nothing but (n, k, seed); impossible sizes are refused.
@Suite struct RandomRegularGraphTests {
    static func degrees(_ edges: [(Int, Int)], nodes n: Int) -> [Int] {
        var degree = Array(repeating: 0, count: n)
        for (a, b) in edges { degree[a] += 1; degree[b] += 1 }
        return degree
    }

    @Test(arguments: [(16, 4), (32, 4), (64, 4), (64, 3), (64, 6), (10, 3), (6, 2), (2, 1), (1000, 4)])
    func everyNodeHasDegreeKWithoutLoopsOrRepeatsAndTheGraphIsConnected(n: Int, k: Int) throws {
        for seed in UInt64(1)...3 {
            let edges = try RandomRegularGraph.edges(nodes: n, degree: k, seed: seed)
            #expect(edges.count == n * k / 2)
            #expect(Self.degrees(edges, nodes: n).allSatisfy { $0 == k })
            #expect(edges.allSatisfy { $0.0 < $0.1 }, "no self loop, each pair once as i < j")
            #expect(Set(edges.map { [$0.0, $0.1] }).count == edges.count, "no edge twice")
            #expect(RandomRegularGraph.distances(from: 0, edges: edges, nodes: n).allSatisfy { $0 != nil }, "connected")
        }
    }

    @Test func theOnlyRegularGraphOfDegreeNMinusOneIsComplete() throws {
        for n in [4, 5, 6] {
            let edges = try RandomRegularGraph.edges(nodes: n, degree: n - 1, seed: 9).map { [$0.0, $0.1] }
            let complete = (0..<n).flatMap { a in ((a + 1)..<n).map { [a, $0] } }
            #expect(edges == complete)
        }
    }

    @Test func theSameSeedGivesTheSameGraphAndAnotherSeedAnother() throws {
        let a = try RandomRegularGraph.edges(nodes: 64, degree: 4, seed: 7).map { [$0.0, $0.1] }
        let b = try RandomRegularGraph.edges(nodes: 64, degree: 4, seed: 7).map { [$0.0, $0.1] }
        let c = try RandomRegularGraph.edges(nodes: 64, degree: 4, seed: 8).map { [$0.0, $0.1] }
        #expect(a == b)
        #expect(a != c)
    }

    @Test func impossibleSizesAreRefusedWithTheirReason() {
        #expect(throws: RandomRegularGraphError.oddDegreeSum(nodes: 7, degree: 3)) { try RandomRegularGraph.edges(nodes: 7, degree: 3, seed: 1) }
        #expect(throws: RandomRegularGraphError.degreeTooLarge(nodes: 5, degree: 5)) { try RandomRegularGraph.edges(nodes: 5, degree: 5, seed: 1) }
        #expect(throws: RandomRegularGraphError.cannotConnect(nodes: 4, degree: 1)) { try RandomRegularGraph.edges(nodes: 4, degree: 1, seed: 1) }
        #expect(RandomRegularGraphError.oddDegreeSum(nodes: 7, degree: 3).description
            == "a 3-regular graph on 7 nodes does not exist: nodes × degree (21) must be even")
        #expect(RandomRegularGraphError.degreeTooLarge(nodes: 5, degree: 5).description == "the degree (5) must be less than the number of nodes (5)")
        #expect(RandomRegularGraphError.cannotConnect(nodes: 4, degree: 1).description == "no 1-regular graph on 4 nodes is connected")
    }

    @Test func distancesCountHopsOnAPath() {
        // 0 — 1 — 2 — 3, and 4 alone.
        #expect(RandomRegularGraph.distances(from: 0, edges: [(0, 1), (1, 2), (2, 3)], nodes: 5) == [0, 1, 2, 3, nil])
        #expect(RandomRegularGraph.distances(from: 2, edges: [(0, 1), (1, 2), (2, 3)], nodes: 5) == [2, 1, 0, 1, nil])
    }

    static func topology(nodes n: Int, k: Int, seed: String) -> String {
        var text = "name = \"rr\"\nsources = [\"code\"]\n"
        for i in 0..<n { text += "[[nodes]]\nname = \"n\(i)\"\nendpoint = \"inproc://rr-\(i)\"\n" }
        return text + "[edges]\nshape = \"k-regular\"\nk = \(k)\n\(seed)"
    }

    @Test func aSeededKRegularTopologyIsTheRandomGraphOfThatSeed() throws {
        let (t, d) = TopologyParser.parse(text: Self.topology(nodes: 12, k: 3, seed: "seed = 4\n"), path: "rr.toml")
        #expect(d == [])
        let expected = try RandomRegularGraph.edges(nodes: 12, degree: 3, seed: 4).map { [$0.0, $0.1] }
        #expect(t?.edges.map { [$0.0, $0.1] } == expected)
        // Without a seed, the ring lattice as before.
        let (lattice, _) = TopologyParser.parse(text: Self.topology(nodes: 12, k: 3, seed: ""), path: "rr.toml")
        #expect(lattice?.edges.map { [$0.0, $0.1] } == Topology.edges(shape: .kRegular, count: 12, k: 3).map { [$0.0, $0.1] })
    }

    @Test func aKRegularTopologyWithAnOddDegreeSumIsOneProblem() {
        let (_, d) = TopologyParser.parse(text: Self.topology(nodes: 7, k: 3, seed: "seed = 4\n"), path: "rr.toml")
        #expect(d.map(\.message) == ["edges.k (3) times the number of nodes (7) must be even: no 3-regular graph on 7 nodes exists"])
    }
}
