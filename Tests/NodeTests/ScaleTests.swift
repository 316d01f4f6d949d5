import Foundation
import Testing
import Trust

@testable import Node

/// Many nodes in one process: every node's trust row is over exactly the origins its
/// updates' TTL lets it hear — an update is sent to the neighbours and relayed `ttl`
/// more times, so it reaches the nodes within ttl + 1 hops, and no farther.
@Suite(.serialized) struct ScaleTests {
    @Test func sixteenNodesEachTrustExactlyTheOriginsWithinReach() throws {
        let (n, k, ttl, seed) = (16, 3, 1, UInt64(3))
        var text = """
            name = "scale16"
            sources = ["prose", "code"]
            [defaults]
            trust = "validation"
            rounds = 4
            warmup_rounds = 1
            local_steps = 1
            batch_size = 2
            sequence_length = 16
            ttl = \(ttl)
            staleness_rounds = 2
            round_timeout_ms = 60000
            curve = false

            """
        for i in 0..<n { text += "[[nodes]]\nname = \"n\(i)\"\nendpoint = \"inproc://scale16-\(i)\"\nmixture = \(i % 2 == 0 ? "[1, 0]" : "[0, 1]")\n" }
        text += "[edges]\nshape = \"k-regular\"\nk = \(k)\nseed = \(seed)\n"
        let t = try preparedTopology(text, bytesPerNode: 3000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let keys = try NodeRuntime.memberKeys(t).map(\.description)

        let outcomes = try runInProcess(t)
        #expect(outcomes.allSatisfy { (try? $0.get()) == .finished(round: 4) })

        var partial = 0
        for i in 0..<n {
            let hops = RandomRegularGraph.distances(from: i, edges: t.edges, nodes: n)
            let reach = Set((0..<n).filter { $0 != i && hops[$0]! <= ttl + 1 }.map { keys[$0] })
            if reach.count < n - 1 { partial += 1 }
            let records = try StateDirectory(path: t.stateDirectory(of: i)).trustHistory()
            #expect(records.map(\.round) == [2, 3, 4])
            for record in records {
                let heard = Set(record.candidates.dropFirst()).union(record.exclusions.map(\.candidate))
                #expect(record.selfID == keys[i])
                #expect(heard.isSubset(of: reach), "node \(i) round \(record.round) heard beyond its reach")
                // The first aggregated round may close before the farthest relays land;
                // from the next, the previous round's update of every origin is held.
                if record.round >= 3 {
                    #expect(heard == reach, "node \(i) round \(record.round): \(heard.count) of \(reach.count) origins")
                    #expect(record.exclusions.isEmpty)
                    #expect(record.scores.allSatisfy { $0 != nil }, "every candidate scored")
                }
            }
        }
        // The graph leaves most nodes out of most nodes' reach, so the row's keys are a real test of the TTL.
        #expect(partial == n)
    }
}
