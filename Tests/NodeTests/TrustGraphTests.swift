import Foundation
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif
import Gossip
import Trust
@testable import Node

@Suite struct TrustGraphTests {
    let graph = TrustGraph(
        nodes: ["alice", "bob", "carol"],
        weights: [[0.7, 0.3, 0], [0.25, 0.75, 0], [0.005, 0.495, 0.5]],
        rounds: [4, 4, nil], strategies: ["validation", "validation", nil])

    @Test func csvHasHeaderAndOneRowPerNode() {
        #expect(
            graph.csv() == """
                from,alice,bob,carol
                alice,0.700000,0.300000,0.000000
                bob,0.250000,0.750000,0.000000
                carol,0.005000,0.495000,0.500000

                """)
    }

    @Test func jsonRoundTrips() throws {
        let decoded = try JSONDecoder().decode(TrustGraph.self, from: Data(graph.json().utf8))
        #expect(decoded == graph)
    }

    @Test func dotDrawsEdgesOfAtLeastOnePercent() {
        let dot = graph.dot()
        #expect(dot.contains("\"alice\" -> \"bob\" [label=\"0.30\", penwidth=1.70];"))
        #expect(!dot.contains("\"carol\" -> \"alice\""))
        #expect(!dot.contains("\"alice\" -> \"carol\""))
        #expect(dot.components(separatedBy: " -> ").count - 1 == 6)
    }

    @Test func heatmapWithoutColorShowsValuesAndRounds() {
        let lines = graph.heatmap(color: false).split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[1].hasPrefix("alice") && lines[1].contains("0.70") && lines[1].hasSuffix("round 4"))
        #expect(lines[3].hasSuffix("(no record)"))
        #expect(!graph.heatmap(color: false).contains("\u{1B}"))
        #expect(graph.heatmap(color: true).contains("\u{1B}[48;2;"))
    }

    @Test func aCarriedRowNamesTheRoundThatScoredIt() throws {
        var carried = graph
        carried.rounds = [7, 7, nil]
        carried.scoredRounds = [6, nil, nil]
        let lines = carried.heatmap(color: false).split(separator: "\n")
        #expect(lines[1].hasSuffix("round 7 (scores of round 6)"))
        #expect(lines[2].hasSuffix("round 7"))
        #expect(try JSONDecoder().decode(TrustGraph.self, from: Data(carried.json().utf8)) == carried)
        // The trust page's table says so too, and stays well-formed.
        let page = TrustTimeline(name: "t", nodes: carried.nodes, groups: [nil, nil, nil], rounds: [7], graphs: [carried],
                                 testPerplexity: [[], [], []]).html()
        #expect(page.contains("<td>alice <span class=\"carried\">(scores of round 6)</span></td>"))
        #expect(page.contains("<td>bob</td>"))
        #expect(XMLParser(data: Data(page.utf8)).parse())
        // Assembled from records: only a carried record's round is named.
        let keys = try (0..<2).map { _ in try SigningKeyPair().publicKey }
        func record(round: Int, scoredRound: Int?) -> TrustRecord {
            var r = TrustRecord(round: round, strategy: TrustConfig(.fedavg), candidates: keys.map(\.description),
                                scores: [nil, nil], weights: [0.5, 0.5], exclusions: [], milliseconds: 0)
            r.scoredRound = scoredRound
            return r
        }
        let assembled = TrustGraph.assemble(nodes: ["a", "b"], keys: keys, records: [record(round: 7, scoredRound: 6), record(round: 7, scoredRound: nil)])
        #expect(assembled.scoredRounds == [6, nil])
        #expect(TrustGraph.assemble(nodes: ["a", "b"], keys: keys, records: [record(round: 7, scoredRound: nil), nil]).scoredRounds == nil)
    }

    @Test func svgIsWellFormedWithNamesAndScale() throws {
        let svg = graph.svg(title: "demo <round 4>")
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        for name in graph.nodes { #expect(svg.contains(">\(name)</text>")) }
        #expect(svg.contains("demo &lt;round 4&gt;"))
        #expect(svg.contains(">1.0</text>") && svg.contains(">0.0</text>"))
        // 9 cells plus a 20-step scale plus the background.
        #expect(svg.components(separatedBy: "<rect").count - 1 == 9 + 20 + 1)
    }

    @Test func colourScaleRunsFromPaleToDark() {
        #expect(ColorScale.rgb(0) == (255, 255, 217))
        #expect(ColorScale.rgb(1) == (8, 29, 88))
        #expect(ColorScale.rgb(-3) == ColorScale.rgb(0) && ColorScale.rgb(.nan) == ColorScale.rgb(0))
        let l = stride(from: 0.0, through: 1.0, by: 0.1).map(ColorScale.luminance)
        #expect(zip(l, l.dropFirst()).allSatisfy { $0 > $1 })
    }
}
