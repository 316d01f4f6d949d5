import Foundation
import Testing

@testable import Learning

/// The alignment step moves only the emulator's kept middle blocks, follows the
/// gradient of NMSE + λ·KL, and lowers that loss on text it did not train on.
@Suite struct EmulatorAlignmentTests {
    static let full = ModelConfig(layers: 6, heads: 2, channels: 16, maxSequenceLength: 16, vocabularySize: 32)

    /// Byte-like text over 32 symbols with a structure a model can learn.
    static func batches(count: Int, seed: UInt64, B: Int = 2, T: Int = 16) -> [TokenBatch] {
        var random = SeededRandom(seed: seed)
        return (0..<count).map { _ in
            var tokens: [Int32] = []
            for _ in 0..<B {
                var x = Int(random.uniform(0, 31))
                for _ in 0...T {
                    tokens.append(Int32(x))
                    let jump = Int(random.uniform(0, 2))
                    x = (5 * x + 3 + jump) % 32
                }
            }
            var inputs: [Int32] = [], targets: [Int32] = []
            for b in 0..<B {
                let start: Int = b * (T + 1)
                inputs += tokens[start..<(start + T)]
                targets += tokens[(start + 1)..<(start + T + 1)]
            }
            return TokenBatch(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T)
        }
    }

    /// A full model trained a little (so its blocks do something), its emulator with a
    /// LoRA adapter on the last block in both.
    static func models(layout: EmulatorLayout = .fedbiot, dropRatio: Double = 0.5) throws -> (TransformerModel, TransformerModel, EmulatorPlan) {
        let pretrained = TransformerModel(config: full, lora: nil, seed: 5)
        let trainer = Trainer(model: pretrained, schedule: LearningRateSchedule(peak: 1e-2, totalSteps: 40))
        for batch in batches(count: 40, seed: 9) { trainer.trainStep([batch]) }
        let tensors = Dictionary(uniqueKeysWithValues: pretrained.namedParameters().map { ($0.name, $0) })
        let plan = try EmulatorPlan(fullLayers: 6, adapterBlocks: 1, dropRatio: dropRatio, layout: layout)
        let cut = try EmulatorModel(full: full, parameters: tensors, plan: plan)
        let lora = LoRAConfig(rank: 2, alpha: 4, dropout: 0, blocks: plan.adapterBlocks)
        let fullModel = try TransformerModel(config: full, lora: lora, seed: 2, parameters: tensors)
        let emulator = try TransformerModel(config: cut.config, lora: lora, seed: 2, parameters: cut.parameters)
        // The same non-zero adapter on both, as an aggregate would be.
        var adapter = fullModel.adapter()
        for i in adapter.tensors.indices { adapter.tensors[i].values = testValues(adapter.tensors[i].count, seed: UInt64(60 + i), scale: 0.3) }
        try fullModel.setAdapter(adapter)
        try emulator.setAdapter(adapter)
        return (fullModel, emulator, plan)
    }

    @Test func theAlignmentGradientMatchesFiniteDifferences() throws {
        let (fullModel, emulator, plan) = try Self.models()
        let alignment = try EmulatorAlignment(full: fullModel, emulator: emulator, plan: plan, lambda: 0.7, learningRate: 1e-3)
        let batch = Self.batches(count: 1, seed: 21)[0]
        try emulator.setTrainable([.baseBlocks(plan.keptBlocks)])
        emulator.zeroGradients()
        _ = alignment.emulatorLoss(batch, lossScale: 1)
        let gradients = emulator.parameterGradients!.pointer, values = emulator.parameters.pointer
        // Check the largest gradients of the kept blocks' parameters, where a Float
        // difference is far above rounding.
        var candidates: [Int] = []
        for l in 0..<emulator.config.layers where plan.keptBlocks.contains(emulator.config.blocks[l]) {
            candidates += Array(emulator.parameterLayout.blocks[l].range)
        }
        let largest = candidates.sorted { abs(gradients[$0]) > abs(gradients[$1]) }.prefix(12)
        #expect(abs(gradients[largest.first!]) > 1e-3)
        for i in largest {
            let saved = values[i], h: Float = 1e-3
            values[i] = saved + h
            let up = Double(alignment.evaluate([batch]).total)
            values[i] = saved - h
            let down = Double(alignment.evaluate([batch]).total)
            values[i] = saved
            let numerical = (up - down) / (2 * Double(h))
            #expect(abs(Double(gradients[i]) - numerical) <= 0.05 * abs(numerical) + 1e-4, "parameter \(i): \(gradients[i]) vs \(numerical)")
        }
        // The adapter blocks and the embeddings got no gradient.
        let adapterRange = emulator.parameterLayout.blocks[emulator.config.layers - 1].range
        #expect(adapterRange.allSatisfy { gradients[$0] == 0 })
    }

    @Test(arguments: [EmulatorLayout.fedbiot, .offsite])
    func alignmentLowersTheLossOnHeldOutText(layout: EmulatorLayout) throws {
        let (fullModel, emulator, plan) = try Self.models(layout: layout, dropRatio: layout == .offsite ? 0.5 : 0.5)
        let alignment = try EmulatorAlignment(full: fullModel, emulator: emulator, plan: plan, lambda: 1, learningRate: 3e-3)
        let train = Self.batches(count: 30, seed: 100), heldOut = Self.batches(count: 4, seed: 200)
        let adapterBefore = emulator.adapter()
        let before = alignment.evaluate(heldOut)
        let frozen = emulator.namedParameters().filter { name in
            !plan.keptBlocks.contains { emulator.config.blocks.firstIndex(of: $0).map { name.name.hasPrefix("h.\($0).") } ?? false }
        }
        for batch in train { try alignment.step([batch]) }
        let after = alignment.evaluate(heldOut)
        #expect(before.total > 0 && before.hidden > 0 && before.distribution > 0)
        #expect(after.total < 0.7 * before.total, "held-out alignment loss \(before.total) → \(after.total)")
        // Only the kept middle blocks moved: the adapter, its blocks and the embeddings did not.
        #expect(emulator.adapter() == adapterBefore)
        let now = Dictionary(uniqueKeysWithValues: emulator.namedParameters().map { ($0.name, $0) })
        #expect(frozen.allSatisfy { now[$0.name] == $0 })
        #expect(emulator.trainableGroups == [.slot(TransformerModel.defaultSlot)])
    }

    @Test func modelsThatDoNotMatchThePlanAreRefused() throws {
        let (fullModel, emulator, plan) = try Self.models()
        #expect(throws: EmulatorError("the emulator has blocks \(fullModel.config.blocks), the plan keeps \(plan.emulatorBlocks)")) {
            try EmulatorAlignment(full: fullModel, emulator: fullModel, plan: plan, lambda: 1, learningRate: 1e-3)
        }
        #expect(throws: EmulatorError("the full model has blocks \(emulator.config.blocks), the plan 6 blocks")) {
            try EmulatorAlignment(full: emulator, emulator: emulator, plan: plan, lambda: 1, learningRate: 1e-3)
        }
        #expect(throws: EmulatorError("lambda must be at least 0 (got -1.0)")) {
            try EmulatorAlignment(full: fullModel, emulator: emulator, plan: plan, lambda: -1, learningRate: 1e-3)
        }
    }
}
