import Foundation
import Gossip
import Learning
import Schemes
import Testing
import Trust

@testable import Node

/// A temporary folder holding a topology file, made ready to run (keys and text).
func preparedTopology(_ body: String, bytesPerNode: Int = 12_000) throws -> Topology {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-run-\(UUID())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let path = dir + "/net.toml"
    try body.write(toFile: path, atomically: true, encoding: .utf8)
    let t = try TopologyParser.load(path: path)
    try ClusterPreparation.prepare(t, bytesPerNode: bytesPerNode, fresh: false)
    return t
}

/// Runs every node of `t` as a thread over inproc://; returns their outcomes.
func runInProcess(_ t: Topology, stop: StopRequest = StopRequest(), schemes: [(any PersonalizationScheme)?]? = nil,
                  observers: [(@Sendable (MeshEvent) -> Void)?]? = nil, forgers: [(any UpdateForger)?]? = nil) throws -> [Result<NodeOutcome, any Error>] {
    let cluster = try InProcessCluster(t, schemes: schemes, observers: observers, forgers: forgers)
    cluster.start(stop: stop)
    // Bounded: a run that hangs fails the test instead of blocking the suite.
    if !cluster.wait(seconds: 240) {
        stop.request()
        _ = cluster.wait(seconds: 30)
        Issue.record("the nodes did not finish in time")
    }
    return cluster.results.map { $0 ?? .failure(NodeError("did not finish")) }
}

/// Two nodes of different text (alice on the first source, bob on the second) with one
/// round of warm-up, `trust` and one more `setting`, run as threads to their last round;
/// `read` sees alice's state folder before the run's folder is removed.
func runTwoNodes<T>(_ name: String, trust: String, rounds: Int, setting: String,
                    read: (StateDirectory) throws -> T) throws -> T {
    let t = try preparedTopology("""
        name = "\(name)"
        sources = ["code", "prose"]
        [defaults]
        trust = "\(trust)"
        rounds = \(rounds)
        warmup_rounds = 1
        local_steps = 2
        sequence_length = 16
        \(setting)
        round_timeout_ms = 20000
        curve = false
        [[nodes]]
        name = "alice"
        endpoint = "inproc://\(name)-a"
        mixture = [1, 0]
        [[nodes]]
        name = "bob"
        endpoint = "inproc://\(name)-b"
        mixture = [0, 1]
        """, bytesPerNode: 4000)
    defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
    for result in try runInProcess(t) { #expect(try result.get() == .finished(round: rounds)) }
    return try read(StateDirectory(path: t.stateDirectory(of: 0)))
}

@Suite(.serialized) struct NodeRuntimeTests {
    @Test func twoGroupsTrustTheirOwnGroupWithValidation() throws {
        let t = try preparedTopology("""
            name = "groups"
            sources = ["prose", "arithmetic"]
            [defaults]
            trust = "validation"
            rounds = 4
            warmup_rounds = 1
            local_steps = 8
            batch_size = 4
            sequence_length = 32
            round_timeout_ms = 20000
            curve = false
            [[nodes]]
            name = "a1"
            endpoint = "inproc://unused-a1"
            [[nodes]]
            name = "a2"
            endpoint = "inproc://unused-a2"
            [[nodes]]
            name = "b1"
            endpoint = "inproc://unused-b1"
            [[nodes]]
            name = "b2"
            endpoint = "inproc://unused-b2"
            [edges]
            shape = "full"
            """)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let outcomes = try runInProcess(t)
        for o in outcomes { #expect(try o.get() == .finished(round: 4)) }
        let graph = try TrustGraph.fromStateFolders(t)
        #expect(graph.rounds == [4, 4, 4, 4])
        let (inGroup, outOfGroup) = graph.groupWeights(groups: [[0, 1], [2, 3]])
        #expect(inGroup > outOfGroup, "in \(inGroup), out \(outOfGroup)\n\(graph.csv())")
        for row in graph.weights { #expect(abs(row.reduce(0, +) - 1) < 1e-9) }
        for i in t.nodes.indices {
            let state = StateDirectory(path: t.stateDirectory(of: i))
            #expect(try state.metrics().map(\.round) == [1, 2, 3, 4])
            #expect(try state.trustHistory().map(\.round) == [2, 3, 4])
            #expect(try state.metrics().map(\.aggregated) == [false, true, true, true])
        }
    }

    @Test func aNodeWithoutLivePeersTrainsOnAlone() throws {
        // bob is a neighbour that never starts: alice waits out each round and trusts herself.
        let t = try preparedTopology("""
            name = "alone"
            sources = ["code"]
            [defaults]
            trust = "fedavg"
            rounds = 3
            warmup_rounds = 1
            local_steps = 3
            sequence_length = 16
            round_timeout_ms = 300
            curve = false
            [[nodes]]
            name = "alice"
            endpoint = "tcp://127.0.0.1:\(try freePort())"
            [[nodes]]
            name = "bob"
            endpoint = "tcp://127.0.0.1:\(try freePort())"
            """, bytesPerNode: 4000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let context = try ZMQContext()
        let runtime = try NodeRuntime(topology: t, index: 0, context: context)
        #expect(try runtime.run(stop: StopRequest()) == .finished(round: 3))
        let history = try StateDirectory(path: t.stateDirectory(of: 0)).trustHistory()
        #expect(history.map(\.weights) == [[1], [1]])
    }

    @Test func testEveryMeasuresTheTestTextOnlyOnItsRoundsAndTheLastWithoutChangingTraining() throws {
        // The same two nodes (trusting only themselves, so the runs are deterministic)
        // once measuring every round and once every third: the second has test losses
        // after rounds 3 and 4 only, equal to the first's, and the same training.
        func run(testEvery: Int) throws -> [RoundMetrics] {
            try runTwoNodes("every-\(testEvery)", trust: "local", rounds: 4, setting: "test_every = \(testEvery)") { state in
                let lines = try String(contentsOfFile: state.metricsPath, encoding: .utf8).split(separator: "\n")
                #expect(lines.count == 4)
                for (r, line) in lines.enumerated() {
                    #expect(line.contains("\"testLoss\"") == ((r + 1) % testEvery == 0 || r + 1 == 4), "round \(r + 1)")
                }
                return try state.metrics()
            }
        }
        let every = try run(testEvery: 1), third = try run(testEvery: 3)
        #expect(every.allSatisfy { $0.testLoss != nil })
        #expect(third.map { $0.testLoss != nil } == [false, false, true, true])
        #expect(third.map(\.trainLoss) == every.map(\.trainLoss))
        #expect(third[2].testLoss == every[2].testLoss && third[3].testLoss == every[3].testLoss)
        #expect(third.lastTestPerplexity == every.lastTestPerplexity && third.lastTestPerplexity != nil)
    }

    @Test func trustEveryCarriesTheScoredRowOverUntilItsNextScoringRound() throws {
        // Two nodes scoring by validation every second aggregating round: round 2 scores,
        // round 3 carries its row over (same weights and scores, named as round 2's),
        // round 4 scores afresh.
        let history = try runTwoNodes("carry", trust: "validation", rounds: 4, setting: "trust_every = 2") { try $0.trustHistory() }
        #expect(history.map(\.round) == [2, 3, 4])
        #expect(history.allSatisfy { $0.candidates.count == 2 }, "both nodes in every row")
        #expect(history.map(\.scoredRound) == [nil, 2, nil])
        #expect(history[1].weights == history[0].weights && history[1].scores == history[0].scores)
        #expect(history[0].scores.allSatisfy { $0 != nil } && history[2].scores.allSatisfy { $0 != nil })
        #expect(history[2].weights != history[0].weights, "round 4 scored the new adapters")
    }

    @Test func aMemberThatTurnsBadUnderTrustEveryKeepsItsWeightOnlyInsideTheScreens() throws {
        // Three nodes scoring by validation every third aggregating round. carol is honest
        // in round 2, publishes twice her adapter in round 3 (inside the norm bound) and
        // twenty times it in round 4 (outside).
        let t = try preparedTopology("""
            name = "turns-bad"
            sources = ["code", "prose"]
            [defaults]
            trust = "validation"
            trust_every = 3
            rounds = 4
            warmup_rounds = 1
            local_steps = 2
            sequence_length = 16
            round_timeout_ms = 20000
            curve = false
            [[nodes]]
            name = "alice"
            endpoint = "inproc://turns-bad-a"
            mixture = [1, 0]
            [[nodes]]
            name = "bob"
            endpoint = "inproc://turns-bad-b"
            mixture = [1, 0]
            [[nodes]]
            name = "carol"
            endpoint = "inproc://turns-bad-c"
            mixture = [0, 1]
            """, bytesPerNode: 4000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let carol = try NodeRuntime.memberKeys(t)[2].description
        for result in try runInProcess(t, forgers: [nil, nil, ScalingFrom(round: [3: 2, 4: 20])]) {
            #expect(try result.get() == .finished(round: 4))
        }
        let history = try StateDirectory(path: t.stateDirectory(of: 0)).trustHistory()
        #expect(history.map(\.round) == [2, 3, 4])
        // Round 3 carries round 2's row: carol's doubled adapter passes the screens and keeps
        // the weight her honest one earned (what `trust_every` gives up).
        #expect(history[1].scoredRound == 2 && history[1].exclusions.isEmpty)
        #expect(history[1].weight(of: carol) == history[0].weight(of: carol) && history[0].weight(of: carol)! > 0)
        // Round 4: the norm bound leaves her out, the candidates are no longer the scored
        // row's, so the row is scored afresh over alice and bob.
        #expect(history[2].scoredRound == nil && history[2].candidates.count == 2 && history[2].weight(of: carol) == nil)
        #expect(history[2].exclusions.map(\.candidate) == [carol] && history[2].exclusions.first?.reason == .normBound)
    }

    @Test func membersThatStartFromOneAverageAndTakeTinyStepsAreNotCopies() throws {
        // Under fedavg both nodes start rounds 3 and 4 from one average, and at a learning
        // rate of 10⁻⁶ their steps move them far less than 10⁻³ of the adapter apart; each
        // moved by about its own step from the other, so neither is a copy.
        let history = try runTwoNodes("tinysteps", trust: "fedavg", rounds: 4, setting: "learning_rate = 0.000001") { try $0.trustHistory() }
        #expect(history.map(\.round) == [2, 3, 4])
        #expect(history.allSatisfy { $0.exclusions.isEmpty }, "\(history.map(\.exclusions))")
        #expect(history.allSatisfy { $0.candidates.count == 2 && $0.weights == [0.5, 0.5] })
    }

    @Test func aRequestedStopEndsTheRunAtTheLastCommittedRound() throws {
        let t = try preparedTopology("""
            name = "stopping"
            sources = ["lingua"]
            [defaults]
            trust = "local"
            rounds = 1000
            warmup_rounds = 1
            local_steps = 2
            sequence_length = 16
            curve = false
            [[nodes]]
            name = "solo"
            endpoint = "inproc://solo"
            """, bytesPerNode: 4000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let stop = StopRequest()
        let context = try ZMQContext()
        let runtime = try NodeRuntime(topology: t, index: 0, context: context)
        DispatchQueue.global().asyncAfter(deadline: .now() + 1.5) { stop.request() }
        guard case .stopped(let round) = try runtime.run(stop: stop) else {
            Issue.record("the run did not stop")
            return
        }
        let state = StateDirectory(path: t.stateDirectory(of: 0))
        #expect(round > 0 && round < 1000)
        #expect(try state.progress()?.round == round)
        #expect(try state.metrics().count == round)
        #expect(!FileSystem.exists(state.controlEndpointPath))
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
func freePort() throws -> Int {
    let context = try ZMQContext()
    let s = try ZMQSocket(context, type: .router)
    defer { s.close() }
    try s.bind("tcp://127.0.0.1:*")
    let endpoint = try s.lastEndpoint
    return Int(endpoint.split(separator: ":").last!)!
}

@Suite struct TrustSettingTests {
    @Test func temperatureSettingAppliesUnlessTheStrategyNamesOne() throws {
        var settings = NodeSettings()
        settings.trust = "validation"
        settings.temperature = 0.1
        #expect(settings.trustConfig?.variant.temperature == 0.1)
        settings.trust = "validation:temperature=0.5"
        #expect(settings.trustConfig?.variant.temperature == 0.5)
        settings.trust = "prediction:topk=3"
        settings.temperature = 1
        let config = try #require(settings.trustConfig)
        #expect(config.variant.temperature == 1 && config.variant.topK == 3 && config.strategy == .prediction)
        settings.trust = "fedavg"
        settings.temperature = 0.5
        #expect(settings.trustConfig == nil)
    }
}

/// Publishes its honest adapter times `round[r]` in round r (as it is in the other rounds).
final class ScalingFrom: UpdateForger {
    let factors: [Int: Float]
    init(round factors: [Int: Float]) { self.factors = factors }

    func forge(_ c: ForgeContext) throws -> [UInt8]? {
        try c.encode(factors[c.round].map { PoisonForger.scaled(c.honest, by: $0) } ?? c.honest)
    }
}
