// The whole model: gradients end to end, training behaviour, adapters and checkpoints.

import Foundation
import Testing

@testable import Learning

/// A model small enough for double-precision finite differences over its parameters.
let checkConfig = ModelConfig(layers: 2, heads: 2, channels: 8, maxSequenceLength: 8, vocabularySize: 11)

func tokens(_ count: Int, vocabulary: Int, seed: UInt64) -> [Int32] {
    var random = SeededRandom(seed: seed)
    return (0..<count).map { _ in Int32(random.next() % UInt64(vocabulary)) }
}

/// A model's parameters as doubles by name.
func referenceParameters(_ model: TransformerModel) -> [String: [Double]] {
    Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.values.doubles) })
}

/// An adapter like `adapter` with every value drawn at random (B no longer zero).
func randomized(_ adapter: LoRAAdapter, seed: UInt64) -> LoRAAdapter {
    var copy = adapter
    for i in copy.tensors.indices {
        copy.tensors[i].values = testValues(copy.tensors[i].count, seed: seed + UInt64(i), scale: 0.3)
    }
    return copy
}

@Suite struct TransformerModelTests {
    let B = 2, T = 5
    var inputs: [Int32] { tokens(B * T, vocabulary: checkConfig.vocabularySize, seed: 100) }
    var targets: [Int32] {
        var t = tokens(B * T, vocabulary: checkConfig.vocabularySize, seed: 101)
        t[3] = -1  // one position without a target
        return t
    }

    @Test func forwardLossMatchesDoubleReference() {
        let model = TransformerModel(config: checkConfig, lora: nil, seed: 1)
        let loss = model.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, training: false)!
        let reference = Reference.modelLoss(config: checkConfig, parameters: referenceParameters(model), lora: nil, adapter: [:],
                                            inputs: inputs, targets: targets, B: B, T: T)
        #expect(abs(Double(loss) - reference) < 1e-5)
        #expect(abs(reference - log(11)) < 0.05)  // small init: close to uniform over 11 tokens
    }

    @Test func fullModelGradientsMatchFiniteDifferences() {
        let model = TransformerModel(config: checkConfig, lora: nil, seed: 2)
        // Larger weights than GPT-2's init, so every path carries a sizeable gradient.
        var tensors = model.namedParameters()
        for i in tensors.indices where !tensors[i].name.contains("ln_") {
            tensors[i].values = testValues(tensors[i].count, seed: 200 + UInt64(i), scale: 0.4)
        }
        try! model.loadParameters(Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) }))
        model.zeroGradients()
        model.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, training: false)
        model.backward()
        let parameters = referenceParameters(model)
        for slot in model.parameterLayout.slots {
            // Every third value of every tensor keeps the test fast and still touches each.
            let indices = Array(stride(from: slot.name.count % 3, to: slot.count, by: 3))
            let analytic = indices.map { model.parameterGradients!.pointer[slot.offset + $0] }
            let numerical = indices.map { i in
                centralDifference(parameters[slot.name]!, at: i) { values in
                    var p = parameters
                    p[slot.name] = values
                    return Reference.modelLoss(config: checkConfig, parameters: p, lora: nil, adapter: [:],
                                               inputs: inputs, targets: targets, B: B, T: T)
                }
            }
            #expect(gradientsMatch(analytic, numerical), "gradient of \(slot.name)")
        }
    }

    @Test func loraGradientsMatchFiniteDifferences() throws {
        let lora = LoRAConfig(rank: 2, alpha: 4, dropout: 0.1)
        let model = TransformerModel(config: checkConfig, lora: lora, seed: 3)
        try model.setAdapter(randomized(model.adapter(), seed: 300))
        model.zeroGradients()
        model.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, training: false)
        model.backward()
        let parameters = referenceParameters(model)
        let adapter = Dictionary(uniqueKeysWithValues: model.adapter().tensors.map { ($0.name, $0.values.doubles) })
        let gradients = model.slots[0].gradients!.array
        var offset = 0
        for tensor in model.adapter().tensors {
            let analytic = Array(gradients[offset..<(offset + tensor.count)])
            offset += tensor.count
            let numerical = numericalGradient(adapter[tensor.name]!) { values in
                var a = adapter
                a[tensor.name] = values
                return Reference.modelLoss(config: checkConfig, parameters: parameters, lora: lora, adapter: a,
                                           inputs: inputs, targets: targets, B: B, T: T)
            }
            #expect(gradientsMatch(analytic, numerical), "gradient of \(tensor.name)")
        }
    }

    @Test func tinyModelOverfitsOneBatch() {
        let model = TransformerModel(config: .tiny, lora: nil, seed: 4)
        let (B, T) = (2, 16)
        let sequence = tokens(B * (T + 1), vocabulary: 256, seed: 400)
        var inputs: [Int32] = [], targets: [Int32] = []
        for b in 0..<B {
            let start: Int = b * (T + 1)
            inputs += sequence[start..<(start + T)]
            targets += sequence[(start + 1)..<(start + T + 1)]
        }
        let batch = TokenBatch(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T)
        let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 1e-2, totalSteps: 150, warmupFraction: 0.05, floor: 1e-3),
                              weightDecay: 0)
        let first = trainer.trainStep([batch]).loss
        var last = first
        for _ in 1..<150 { last = trainer.trainStep([batch]).loss }
        #expect(abs(first - log(256)) < 0.1)
        #expect(last < 0.1, "loss \(first) → \(last) after 150 steps")
    }

    @Test func loraTrainingLeavesEveryBaseParameterBitIdentical() {
        let model = TransformerModel(config: .tiny, lora: LoRAConfig(rank: 4), seed: 5)
        let base = model.parameters.array.map(\.bitPattern)
        let adapterBefore = model.adapter()
        let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 1e-2, totalSteps: 5))
        let batch = TokenBatch(inputs: tokens(64, vocabulary: 256, seed: 500), targets: tokens(64, vocabulary: 256, seed: 501),
                               batchSize: 2, sequenceLength: 32)
        for _ in 0..<5 { trainer.trainStep([batch]) }
        #expect(model.parameters.array.map(\.bitPattern) == base)
        #expect(model.parameterGradients == nil)
        let adapterAfter = model.adapter()
        for (before, after) in zip(adapterBefore.tensors, adapterAfter.tensors) {
            #expect(before.values != after.values, "\(before.name) did not train")
        }
    }

    @Test func initialLoRAModelEqualsItsBase() {
        let base = TransformerModel(config: .tiny, lora: nil, seed: 6)
        let adapted = TransformerModel(config: .tiny, lora: LoRAConfig(rank: 4, dropout: 0.1), seed: 6)
        let inputs = tokens(2 * 16, vocabulary: 256, seed: 600)
        base.forward(inputs: inputs, targets: nil, batchSize: 2, sequenceLength: 16, training: false)
        adapted.forward(inputs: inputs, targets: nil, batchSize: 2, sequenceLength: 16, training: true)
        let baseLogits = base.withLogits { Array($0) }, adaptedLogits = adapted.withLogits { Array($0) }
        #expect(baseLogits.count == 2 * 16 * 256)
        #expect(baseLogits.map(\.bitPattern) == adaptedLogits.map(\.bitPattern))
    }

    @Test func sameSeedGivesIdenticalLosses() {
        func losses() -> [Float] {
            let model = TransformerModel(config: .tiny, lora: LoRAConfig(rank: 4, dropout: 0.2), seed: 7)
            let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 1e-2, totalSteps: 4))
            let batch = TokenBatch(inputs: tokens(64, vocabulary: 256, seed: 700), targets: tokens(64, vocabulary: 256, seed: 701),
                                   batchSize: 2, sequenceLength: 32)
            return (0..<4).map { _ in trainer.trainStep([batch]).loss }
        }
        let first = losses(), second = losses()
        #expect(first.map(\.bitPattern) == second.map(\.bitPattern))
        #expect(first[3] < first[0])
    }

    @Test func twoMicroBatchesOfOneAccumulateToOneBatchOfTwo() {
        let model = TransformerModel(config: .tiny, lora: LoRAConfig(rank: 4, dropout: 0), seed: 8)
        model.slots[0].values.pointer.update(from: testValues(model.slots[0].layout.count, seed: 800, scale: 0.1), count: model.slots[0].layout.count)
        let (T, V) = (16, 256)
        let inputs = tokens(2 * T, vocabulary: V, seed: 801), targets = tokens(2 * T, vocabulary: V, seed: 802)
        model.zeroGradients()
        for b in 0..<2 {
            model.forward(inputs: Array(inputs[(b * T)..<((b + 1) * T)]), targets: Array(targets[(b * T)..<((b + 1) * T)]),
                          batchSize: 1, sequenceLength: T, training: true)
            model.backward(lossScale: 0.5)
        }
        let accumulated = model.slots[0].gradients!.array
        model.zeroGradients()
        model.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: T, training: true)
        model.backward()
        let whole = model.slots[0].gradients!.array
        let largest = whole.map(abs).max()!
        #expect(largest > 0)
        // Same sums in a different order: agreement to Float rounding of the largest value.
        #expect(zip(accumulated, whole).allSatisfy { abs($0 - $1) <= 1e-5 * largest })
    }

    @Test func evaluateLossIsTheMeanOverEveryTargetPosition() {
        let model = TransformerModel(config: .tiny, lora: nil, seed: 9)
        let a = TokenBatch(inputs: tokens(16, vocabulary: 256, seed: 900), targets: tokens(16, vocabulary: 256, seed: 901), batchSize: 1, sequenceLength: 16)
        var b = TokenBatch(inputs: tokens(16, vocabulary: 256, seed: 902), targets: tokens(16, vocabulary: 256, seed: 903), batchSize: 1, sequenceLength: 16)
        for i in 0..<8 { b.targets[i] = -1 }  // b has half as many targets as a
        let lossA = model.forward(inputs: a.inputs, targets: a.targets, batchSize: 1, sequenceLength: 16, training: false)!
        let lossB = model.forward(inputs: b.inputs, targets: b.targets, batchSize: 1, sequenceLength: 16, training: false)!
        let expected = (16 * lossA + 8 * lossB) / 24
        #expect(abs(model.evaluateLoss(batches: [a, b]) - expected) < 1e-5)
    }
}

@Suite struct GPT2ParameterTests {
    @Test func namedParametersFollowTheLayout() {
        let model = TransformerModel(config: .tiny, lora: nil, seed: 1)
        let tensors = model.namedParameters()
        #expect(tensors.map(\.name) == model.parameterLayout.slots.map(\.name))
        #expect(tensors.map(\.shape) == model.parameterLayout.slots.map(\.shape))
        #expect(tensors.first { $0.name == "h.1.ln_1.weight" }?.values == [Float](repeating: 1, count: 32))
    }

    @Test func parametersCarryHuggingFaceNamesAndShapes() {
        let layout = ParameterLayout(config: .gpt2Small)
        #expect(layout.count == 124_439_808)
        #expect(layout.slots.count == 2 + 12 * 12 + 2)
        let shapes = Dictionary(uniqueKeysWithValues: layout.slots.map { ($0.name, $0.shape) })
        #expect(shapes["wte.weight"] == [50257, 768])
        #expect(shapes["wpe.weight"] == [1024, 768])
        #expect(shapes["h.0.attn.c_attn.weight"] == [768, 2304])
        #expect(shapes["h.11.attn.c_proj.bias"] == [768])
        #expect(shapes["h.5.mlp.c_fc.weight"] == [768, 3072])
        #expect(shapes["h.5.mlp.c_proj.weight"] == [3072, 768])
        #expect(shapes["ln_f.weight"] == [768])
        #expect(shapes["lm_head.weight"] == nil)
    }

    @Test func gpt2SmallLoRAHasThePapersTrainableCount() {
        let layout = LoRALayout(config: .gpt2Small, lora: LoRAConfig(rank: 4))
        #expect(layout.count == 589_824)
        #expect(TransformerModel(config: .tiny, lora: LoRAConfig(rank: 4), seed: 1).trainableParameterCount
                == LoRALayout(config: .tiny, lora: LoRAConfig(rank: 4)).count)
    }

    @Test func loadParametersAcceptsTheTransformerPrefix() throws {
        let source = TransformerModel(config: .tiny, lora: nil, seed: 10), target = TransformerModel(config: .tiny, lora: nil, seed: 11)
        var tensors = Dictionary(uniqueKeysWithValues: source.namedParameters().map { ("transformer." + $0.name, $0) })
        tensors["lm_head.weight"] = source.namedParameters()[0]  // ignored, as the head is tied
        try target.loadParameters(tensors)
        #expect(target.namedParameters() == source.namedParameters())
        let inputs = tokens(16, vocabulary: 256, seed: 1000)
        source.forward(inputs: inputs, targets: nil, batchSize: 1, sequenceLength: 16, training: false)
        target.forward(inputs: inputs, targets: nil, batchSize: 1, sequenceLength: 16, training: false)
        #expect(source.withLogits { Array($0) } == target.withLogits { Array($0) })
    }

    @Test func loadParametersNamesAMissingTensorAndChangesNothing() {
        let model = TransformerModel(config: .tiny, lora: nil, seed: 12)
        let before = model.namedParameters()
        var tensors = Dictionary(uniqueKeysWithValues: TransformerModel(config: .tiny, lora: nil, seed: 13).namedParameters().map { ($0.name, $0) })
        tensors["h.1.ln_2.bias"] = nil
        #expect(throws: ModelError.missingTensor(name: "h.1.ln_2.bias")) { try model.loadParameters(tensors) }
        #expect(model.namedParameters() == before)
    }

    @Test func loadParametersNamesAWronglyShapedTensor() {
        let model = TransformerModel(config: .tiny, lora: nil, seed: 14)
        var tensors = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0) })
        tensors["h.0.attn.c_attn.weight"] = NamedTensor(name: "h.0.attn.c_attn.weight", shape: [96, 32], values: [Float](repeating: 0, count: 3072))
        #expect(throws: ModelError.shapeMismatch(name: "h.0.attn.c_attn.weight", expected: [32, 96], found: [96, 32])) {
            try model.loadParameters(tensors)
        }
    }

    @Test func adapterRoundTripsThroughSetAdapter() throws {
        let model = TransformerModel(config: .tiny, lora: LoRAConfig(rank: 4), seed: 15)
        let buffer = model.slots[0].values.pointer
        let adapter = randomized(model.adapter(), seed: 1500)
        try model.setAdapter(adapter)
        #expect(model.adapter() == adapter)
        #expect(model.slots[0].values.pointer == buffer)
        #expect(adapter.tensors[0].name == "h.0.attn.c_attn.lora_A" && adapter.tensors[0].shape == [4, 32])
        #expect(adapter.tensors[1].name == "h.0.attn.c_attn.lora_B" && adapter.tensors[1].shape == [96, 4])
    }

    @Test func setAdapterRejectsAnotherRank() {
        let model = TransformerModel(config: .tiny, lora: LoRAConfig(rank: 4), seed: 16)
        let other = TransformerModel(config: .tiny, lora: LoRAConfig(rank: 8), seed: 16).adapter()
        #expect(throws: ModelError.adapterMismatch("rank 8, expected 4")) { try model.setAdapter(other) }
    }

    @Test func setAdapterRejectsAWronglyShapedTensor() {
        let model = TransformerModel(config: .tiny, lora: LoRAConfig(rank: 4), seed: 17)
        var adapter = model.adapter()
        adapter.tensors[2] = NamedTensor(name: adapter.tensors[2].name, shape: [4, 16], values: [Float](repeating: 0, count: 64))
        #expect(throws: ModelError.adapterMismatch("tensor h.0.attn.c_proj.lora_A has shape [4, 16], expected [4, 32]")) {
            try model.setAdapter(adapter)
        }
    }

    @Test func setAdapterOnAFullModelIsAnError() {
        let model = TransformerModel(config: .tiny, lora: nil, seed: 18)
        let adapter = TransformerModel(config: .tiny, lora: LoRAConfig(rank: 4), seed: 18).adapter()
        #expect(throws: ModelError.noSlot("default")) { try model.setAdapter(adapter) }
    }
}

@Suite struct GPT2LoadingInitTests {
    @Test func modelMadeFromParametersEqualsTheSource() throws {
        let source = TransformerModel(config: .tiny, lora: nil, seed: 20)
        let tensors = Dictionary(uniqueKeysWithValues: source.namedParameters().map { ($0.name, $0) })
        let model = try TransformerModel(config: .tiny, lora: LoRAConfig(rank: 4), seed: 21, parameters: tensors)
        #expect(model.namedParameters() == source.namedParameters())
        #expect(model.adapter() == TransformerModel(config: .tiny, lora: LoRAConfig(rank: 4), seed: 21).adapter())
    }

    @Test func modelFromIncompleteParametersIsAnError() {
        #expect(throws: ModelError.missingTensor(name: "wte.weight")) {
            try TransformerModel(config: .tiny, lora: nil, seed: 22, parameters: [:])
        }
    }
}
