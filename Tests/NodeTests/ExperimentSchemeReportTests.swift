import Foundation
import Testing

@testable import Node

@Suite struct ExperimentSchemeReportTests {
    func fdloraRun(seed: UInt64, served: [Double], parts: [[Double]], weights: [[Double]?]) -> ExperimentRunResult {
        var r = runResult("fdlora", .specific, seed: seed, served)
        r.figures = ExperimentNodeFigures(
            partNames: ["global", "personal"], partPerplexities: parts, fusionWeights: weights, payloadBytes: served.map { _ in 1000 },
            publishedParameters: 240, publishedRounds: 5)
        return r
    }

    /// A pair counts as no worse when its served perplexity is at most the smaller part's
    /// (ties count); runs without figures are left out.
    @Test func servedNoWorseCountsPairsAtMostTheirBetterPart() {
        let plan = ExperimentPlan(strategies: ["local", "fdlora"], settings: [.specific], seeds: [1, 2], bytesPerNode: 1000)
        let summary = ExperimentSummary(plan: plan, results: [
            runResult("local", .specific, seed: 1, [4, 4]),
            fdloraRun(seed: 1, served: [3.0, 5.0], parts: [[3.5, 3.0], [4.0, 6.0]], weights: [[0, 1], [0, 0]]),
            fdloraRun(seed: 2, served: [2.0, 7.0], parts: [[2.5, 2.1], [7.5, 8.0]], weights: [[0.3, 0.6], [1, 0]]),
        ], groups: [[0], [1]])
        #expect(summary.servedNoWorse(entry: "fdlora", setting: .specific) == (3, 4))
        #expect(summary.servedNoWorse(entry: "local", setting: .specific) == (0, 0))
        let table = summary.schemeMarkdown()
        #expect(table.contains("| `fdlora` | specific | 4.250 ± 0.354 | +6.2% |  | 1000 | 240 | 3 / 4 |"))
        #expect(table.contains("| 1 | n1 | 5.000 ✗ | 4.000 | 6.000 | 0.000 | 0.000 |"))
        #expect(table.contains("| 2 | n0 | 2.000 | 2.500 | 2.100 | 0.300 | 0.600 |"))
    }

    @Test func nodesCSVHasOneRowPerNodeOfEveryMeasuredRun() {
        let plan = ExperimentPlan(strategies: ["local", "fdlora"], settings: [.specific], seeds: [1], bytesPerNode: 1000)
        let summary = ExperimentSummary(plan: plan, results: [
            runResult("local", .specific, seed: 1, [4, 4]),
            fdloraRun(seed: 1, served: [3.0, 5.0], parts: [[3.5, 3.0], [4.0, 6.0]], weights: [[0, 1], nil]),
        ], groups: [[0], [1]])
        #expect(summary.nodesCSV() == """
            setting,seed,run,bytes_per_node,node,test_perplexity,part1,part1_perplexity,part2,part2_perplexity,w1,w2,payload_bytes,published_parameters,published_rounds
            specific,1,"fdlora",1000,n0,3.000000,global,3.500000,personal,3.000000,0.000000,1.000000,1000,240,5
            specific,1,"fdlora",1000,n1,5.000000,global,4.000000,personal,6.000000,,,1000,240,5

            """)
    }
}
