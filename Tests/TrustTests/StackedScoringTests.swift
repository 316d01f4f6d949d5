// Candidates scored together (their batches stacked along the rows of one forward pass)
// against the same candidates scored one by one, for a LoRA and a bottleneck candidate
// slot: the same scores up to float rounding, the same trust rows.

import Foundation
import Learning
import Testing

@testable import Trust

@Suite struct StackedScoringTests {
    static let config = ModelConfig(layers: 2, heads: 2, channels: 32, maxSequenceLength: 32, vocabularySize: 128)

    static func batches(seed: UInt64) -> [TokenBatch] {
        var random = SeededGenerator(seed: seed)
        return [3, 2].map { B in
            let ids = (0..<(B * 17)).map { _ in Int32(abs(random.nextSignedUnitFloat()) * 127) }
            var inputs: [Int32] = [], targets: [Int32] = []
            for b in 0..<B {
                inputs += ids[(b * 17)..<(b * 17 + 16)]
                targets += ids[(b * 17 + 1)..<(b * 17 + 17)]
            }
            return TokenBatch(inputs: inputs, targets: targets, batchSize: B, sequenceLength: 16)
        }
    }

    /// A model and evaluator whose candidate slot is LoRA slot `default`, or with
    /// `bottleneck` a bottleneck slot beside it; the candidates are the slot's own values
    /// perturbed, the node's own first.
    static func setup(bottleneck: Bool) throws -> (ModelEvaluator, [LoRAAdapter]) {
        let model = TransformerModel(config: config, lora: LoRAConfig(rank: 4), seed: 3)
        var random = SeededGenerator(seed: 44)
        var own = model.adapter()
        for i in own.tensors.indices { own.tensors[i].values = own.tensors[i].values.map { $0 + random.nextSignedUnitFloat() * 0.3 } }
        try model.setAdapter(own)
        let slot = bottleneck ? "adapter" : TransformerModel.defaultSlot
        let swap: ModelEvaluator.Swap
        if bottleneck {
            try model.addBottleneck(named: slot, width: 4)
            own = LoRAAdapter(config: LoRAConfig(rank: 1), tensors: model.bottleneck(named: slot)!.tensors)
            swap = { adapter, body in try model.withBottleneck(adapter.tensors, named: slot, body) }
        } else {
            swap = { adapter, body in try model.withAdapter(adapter, named: slot, body) }
        }
        let candidates = [own] + (1..<6).map { _ in
            var c = own
            for i in c.tensors.indices { c.tensors[i].values = c.tensors[i].values.map { $0 + random.nextSignedUnitFloat() * 0.3 } }
            return c
        }
        let evaluator = ModelEvaluator(model: model, trustBatches: batches(seed: 1), referenceBatches: batches(seed: 2),
                                       candidateSlot: slot, swap: swap)
        evaluator.stackedRows = 96  // two candidates of 48 rows per pass, so three passes
        return (evaluator, candidates)
    }

    @Test(arguments: [false, true]) func stackedLossesAreOneByOneLosses(bottleneck: Bool) throws {
        let (evaluator, candidates) = try Self.setup(bottleneck: bottleneck)
        let stacked = try evaluator.meanCrossEntropies(of: candidates)
        let alone = try candidates.map(evaluator.meanCrossEntropy)
        #expect(Set(alone).count == candidates.count, "every candidate changes the loss")
        for (s, a) in zip(stacked, alone) { #expect(abs(s - a) <= 1e-6 * a, "stacked \(s), alone \(a)") }
    }

    @Test(arguments: [false, true]) func stackedTopKLogitsAreOneByOnes(bottleneck: Bool) throws {
        let (evaluator, candidates) = try Self.setup(bottleneck: bottleneck)
        let stacked = try evaluator.topKLogits(of: candidates, k: 5)
        for (c, candidate) in candidates.enumerated() {
            let alone = try evaluator.topKLogits(of: candidate, k: 5)
            #expect(stacked[c].positions == 80 && alone.positions == 80)
            // Equal logits would need a tie within rounding to pick other tokens.
            #expect(stacked[c].indices == alone.indices)
            let worst = zip(stacked[c].values, alone.values).map { abs($0 - $1) / max(abs($1), 1) }.max()!
            #expect(worst <= 1e-5)
        }
    }

    @Test(arguments: [TrustStrategy.validation, .prediction]) func stackedRowsAreOneByOneRows(strategy: TrustStrategy) throws {
        let (evaluator, candidates) = try Self.setup(bottleneck: false)
        let own = TrustCandidate(id: "own", adapter: candidates[0])
        let peers = candidates.dropFirst().enumerated().map { TrustCandidate(id: "peer\($0)", adapter: $1) }
        let stacked = try TrustRow.compute(config: TrustConfig(strategy), round: 1, own: own, peers: peers, evaluator: evaluator)
        evaluator.stacksCandidates = false
        let alone = try TrustRow.compute(config: TrustConfig(strategy), round: 1, own: own, peers: peers, evaluator: evaluator)
        #expect(stacked.candidates == alone.candidates)
        for (s, a) in zip(stacked.weights, alone.weights) { #expect(abs(s - a) <= 1e-6 * max(a, 1e-3), "weight \(s), alone \(a)") }
        #expect(Set(alone.weights).count == candidates.count)
    }
}
