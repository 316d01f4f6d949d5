import Foundation
import Testing
import Trust

@testable import Node

/// An experiment runs on its topology's graph: on a sparse k-regular graph each node's
/// trust row holds exactly the origins within TTL + 1 hops, each with a weight and a
/// score, never a node the graph keeps out of reach.
@Suite(.serialized) struct ExperimentGraphTests {
    @Test func anExperimentOnAKRegularGraphTrustsOnlyTheOriginsWithinReach() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-exp-graph-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (n, k, ttl, rounds) = (12, 3, 1, 4)
        var text = """
            name = "sparse12"
            sources = ["prose", "code"]
            [defaults]
            sequence_length = 16
            ttl = \(ttl)
            staleness_rounds = 2
            round_timeout_ms = 60000

            """
        for i in 0..<n { text += "[[nodes]]\nname = \"n\(i)\"\nendpoint = \"tcp://127.0.0.1:\(7200 + i)\"\nmixture = \(i % 2 == 0 ? "[1, 0]" : "[0, 1]")\n" }
        text += "[edges]\nshape = \"k-regular\"\nk = \(k)\nseed = 3\n"
        let (parsed, problems) = TopologyParser.parse(text: text, path: dir + "/sparse12.toml")
        let t = try #require(parsed, "\(problems)")
        let plan = ExperimentPlan(
            strategies: ["validation"], settings: [.specific], rounds: rounds, warmupRounds: 1, localSteps: 1, batchSize: 2,
            bytesPerNode: 2000, evaluationBytes: 400, baseModel: "random:tiny")
        let experiment = try Experiment(topology: t, plan: plan, workDirectory: dir)
        let key = try #require(plan.runs.first)
        let run = experiment.topology(for: key)
        #expect(run.edges.map { [$0.0, $0.1] } == t.edges.map { [$0.0, $0.1] })
        #expect(run.edges.count == n * k / 2)
        #expect(run.nodes.allSatisfy { $0.settings.ttl == ttl })

        let summary = try experiment.run()
        let result = try #require(summary.results.first)
        #expect(result.perplexities.count == n && result.perplexities.allSatisfy(\.isFinite))
        let keys = try NodeRuntime.memberKeys(experiment.topology(for: key)).map(\.description)
        var partial = 0
        for i in 0..<n {
            let hops = RandomRegularGraph.distances(from: i, edges: run.edges, nodes: n)
            let reachIndices = (0..<n).filter { $0 != i && hops[$0]! <= ttl + 1 }
            let reach = Set(reachIndices.map { keys[$0] })
            if reach.count < n - 1 { partial += 1 }
            let records = try StateDirectory(path: run.stateDirectory(of: i)).trustHistory()
            #expect(records.map(\.round) == Array(2...rounds))
            for record in records {
                let heard = Set(record.candidates.dropFirst()).union(record.exclusions.map(\.candidate))
                #expect(record.selfID == keys[i])
                #expect(heard.isSubset(of: reach), "node \(i) round \(record.round) heard beyond its reach")
                #expect(record.weights.count == record.candidates.count && abs(record.weights.reduce(0, +) - 1) < 1e-9)
                if record.round >= 3 {
                    #expect(heard == reach, "node \(i) round \(record.round): \(heard.count) of \(reach.count) origins")
                    #expect(record.exclusions.isEmpty)
                    #expect(record.scores.allSatisfy { $0 != nil }, "every candidate scored")
                }
            }
            // The run's trust graph puts no weight outside the node's reach.
            for j in 0..<n where j != i && !reachIndices.contains(j) {
                #expect(result.graph.weights[i][j] == 0, "node \(i) weighs \(j), out of its reach")
            }
        }
        // Within two hops of a 3-regular graph lie at most 9 of the 11 others.
        #expect(partial == n)
    }
}
