// Attackers in an experiment: who attacks, what each kind publishes, and that the screens
// before trust give a copy and a scaled adapter no weight in a running cluster.

import Foundation
import Learning
import Testing

@testable import Node
@testable import Trust

@Suite struct ExperimentAttackTests {
    let nine = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]

    @Test func attackersAreTheLastMembersOfTheFirstGroupsThenTheNextToLast() {
        #expect(ExperimentAttack(kind: .noise, attackers: 2).attackerIndices(groups: nine) == [2, 5])
        #expect(ExperimentAttack(kind: .noise, attackers: 4).attackerIndices(groups: nine) == [2, 5, 8, 1])
        #expect(ExperimentAttack(kind: .noise, attackers: 3).attackerIndices(groups: [[0], [1, 2, 3]]) == [0, 3, 2])
    }

    @Test func aMimicCopiesTheFirstHonestMemberOfTheNextGroup() {
        #expect(ExperimentAttack.mimicTarget(ofGroup: 0, groups: nine, attackers: [2, 5]) == 3)
        #expect(ExperimentAttack.mimicTarget(ofGroup: 1, groups: nine, attackers: [2, 5]) == 6)
        #expect(ExperimentAttack.mimicTarget(ofGroup: 2, groups: nine, attackers: [0, 8]) == 1)
        #expect(ExperimentAttack.mimicTarget(ofGroup: 0, groups: [[0, 1], [2, 3]], attackers: [1, 2, 3]) == nil)
    }

    @Test func screenNormIsATopologySettingWithDefaultThree() throws {
        let text = "name = \"v\"\n[defaults]\nscreen_norm = 2\n[[nodes]]\nname = \"a\"\nendpoint = \"tcp://127.0.0.1:7101\"\n"
            + "[[nodes]]\nname = \"b\"\nendpoint = \"tcp://127.0.0.1:7102\"\nscreen_norm = 0\n"
        let (t, d) = TopologyParser.parse(text: text, path: "v.toml")
        #expect(d.isEmpty)
        #expect(t?.nodes.map(\.settings.screenNorm) == [2, 0])
        #expect(NodeSettings().screenNorm == 3)
    }

    @Test func poisonIsTheHonestAdapterScaledOrNoiseOfTheAskedNorm() {
        let honest = taggedAdapter([1, -2, 0, 3], [0.5, 0, 0, -1])
        #expect(PoisonForger.scaled(honest, by: 20).tensors.flatMap(\.values) == [20, -40, 0, 60, 10, 0, 0, -20])
        let mean = PoisonForger.mean([honest, taggedAdapter([3, 0, 0, 1], [0.5, 2, 0, 1])])
        #expect(mean.tensors.flatMap(\.values) == [2, -1, 0, 2, 0.5, 1, 0, 0])
        let n = PoisonForger.noise(like: honest, norm: 10 * AdapterNorm.norm(honest), seed: 7)
        #expect(n.hasSameLayout(as: honest))
        // ‖honest‖ = √(1 + 4 + 9 + 0.25 + 1) = √15.25.
        #expect(abs(AdapterNorm.norm(n) - 10 * 15.25.squareRoot()) < 1e-4)
        #expect(n == PoisonForger.noise(like: honest, norm: 10 * AdapterNorm.norm(honest), seed: 7))
        #expect(n != PoisonForger.noise(like: honest, norm: 10 * AdapterNorm.norm(honest), seed: 8))
    }

    /// Four nodes in two groups under fedavg, node 1 attacking: the rows of the honest
    /// nodes 0, 2 and 3 after `rounds` rounds.
    func attacked(_ kind: AttackKind, in dir: String) throws -> RobustnessMeasure {
        let (parsed, problems) = TopologyParser.parse(text: """
            name = "four"
            sources = ["prose", "code"]
            [defaults]
            sequence_length = 16
            round_timeout_ms = 20000
            heartbeat_ms = 100
            [[nodes]]
            name = "ann"
            endpoint = "tcp://127.0.0.1:7001"
            mixture = [1, 0]
            [[nodes]]
            name = "ben"
            endpoint = "tcp://127.0.0.1:7002"
            mixture = [1, 0]
            [[nodes]]
            name = "cat"
            endpoint = "tcp://127.0.0.1:7003"
            mixture = [0, 1]
            [[nodes]]
            name = "dan"
            endpoint = "tcp://127.0.0.1:7004"
            mixture = [0, 1]
            """, path: dir + "/four.toml")
        let t = try #require(parsed, "\(problems)")
        var plan = ExperimentPlan(
            strategies: ["fedavg"], settings: [.specific], rounds: 3, warmupRounds: 1, localSteps: 2, batchSize: 2, bytesPerNode: 3000,
            evaluationBytes: 700, baseModel: "random:tiny")
        plan.attack = ExperimentAttack(kind: kind, attackers: 1)
        let experiment = try Experiment(topology: t, plan: plan, workDirectory: dir)
        #expect(experiment.attackerIndices == [1])
        let summary = try experiment.run()
        return try #require(summary.results.first?.robustness)
    }

    @Test func theScreensGiveACopyAndAScaledAdapterNoWeight() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-attack-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }

        // Honest: ben is one of four under fedavg, 1/4 of every honest row.
        let none = try attacked(.none, in: dir)
        #expect(none.attackers == ["ben"])
        #expect(abs(none.attackerWeightMean - 0.25) < 1e-9 && abs(none.attackerWeightLast - 0.25) < 1e-9)
        #expect(none.attackerExclusions.isEmpty && none.honestExclusions.isEmpty)

        // ben republishes cat's update: every honest row of rounds 2 and 3 drops it as a copy.
        let mimic = try attacked(.mimic, in: dir)
        #expect(mimic.attackerWeightMax == 0)
        #expect(mimic.attackerExclusions == ["duplicate": 6], "\(mimic.attackerExclusions)")
        #expect(mimic.honestExclusions.isEmpty, "the original is kept: \(mimic.honestExclusions)")

        let scale = try attacked(.scale, in: dir)
        #expect(scale.attackerWeightMax == 0)
        #expect(scale.attackerExclusions == ["normBound": 6], "\(scale.attackerExclusions)")
        #expect(scale.honestExclusions.isEmpty)
        #expect(scale.honestMeanPerplexity.isFinite)
    }
}

/// A tiny-layout adapter (Trust's test fixture shape) with A and B given.
private func taggedAdapter(_ a: [Float], _ b: [Float]) -> LoRAAdapter {
    LoRAAdapter(
        config: LoRAConfig(rank: 2, targets: [.attentionQKV]),
        tensors: [
            NamedTensor(name: "h.0.attn.c_attn.lora_A", shape: [2, 2], values: a),
            NamedTensor(name: "h.0.attn.c_attn.lora_B", shape: [2, 2], values: b),
        ])
}
