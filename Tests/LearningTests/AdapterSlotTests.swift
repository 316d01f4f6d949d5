// Several named adapter slots on one model, and parameter groups that train apart.

import Foundation
import Testing

@testable import Learning

@Suite struct AdapterSlotTests {
    let B = 2, T = 5
    var inputs: [Int32] { tokens(B * T, vocabulary: checkConfig.vocabularySize, seed: 400) }
    var targets: [Int32] { tokens(B * T, vocabulary: checkConfig.vocabularySize, seed: 401) }
    static let frozen = LoRAConfig(rank: 2, alpha: 4, dropout: 0)
    static let trained = LoRAConfig(rank: 3, alpha: 6, dropout: 0, targets: [.attentionQKV, .mlpOut])

    func twoSlotModel() throws -> TransformerModel {
        let model = try TransformerModel(
            config: checkConfig, slots: [AdapterSlotSpec(name: "frozen", lora: Self.frozen), AdapterSlotSpec(name: "trained", lora: Self.trained)],
            seed: 31)
        try model.setAdapter(randomized(model.adapter(named: "frozen"), seed: 310), named: "frozen")
        try model.setAdapter(randomized(model.adapter(named: "trained"), seed: 320), named: "trained")
        try model.setTrainable([.slot("trained")])
        return model
    }

    /// The base with a slot merged in: W[in, out] += scale · (B A)ᵀ on every projection it covers.
    func merged(_ base: [String: [Double]], _ adapter: LoRAAdapter) -> [String: [Double]] {
        var p = base
        let r = adapter.config.rank, scale = Double(adapter.config.scale)
        for i in stride(from: 0, to: adapter.tensors.count, by: 2) {
            let a = adapter.tensors[i], b = adapter.tensors[i + 1]
            let name = String(a.name.dropLast(".lora_A".count)) + ".weight"
            let IN = a.shape[1], OUT = b.shape[0]
            for x in 0..<IN {
                for o in 0..<OUT {
                    var sum = 0.0
                    for k in 0..<r { sum += Double(b.values[o * r + k]) * Double(a.values[k * IN + x]) }
                    p[name]![x * OUT + o] += scale * sum
                }
            }
        }
        return p
    }

    @Test func aFrozenSlotShapesTheLossAndTheTrainedSlotsGradients() throws {
        let model = try twoSlotModel()
        let loss = model.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, training: false)!
        model.zeroGradients()
        model.backward()
        let base = merged(referenceParameters(model), try model.adapter(named: "frozen"))
        let trained = try model.adapter(named: "trained")
        let values = Dictionary(uniqueKeysWithValues: trained.tensors.map { ($0.name, $0.values.doubles) })
        let reference = Reference.modelLoss(config: checkConfig, parameters: base, lora: Self.trained, adapter: values,
                                            inputs: inputs, targets: targets, B: B, T: T)
        #expect(abs(Double(loss) - reference) < 1e-5, "the frozen slot's branch is part of the forward pass")
        let gradients = model.slots[1].gradients!.array
        var offset = 0
        for tensor in trained.tensors {
            let analytic = Array(gradients[offset..<(offset + tensor.count)])
            offset += tensor.count
            let numerical = numericalGradient(values[tensor.name]!) { v in
                var a = values
                a[tensor.name] = v
                return Reference.modelLoss(config: checkConfig, parameters: base, lora: Self.trained, adapter: a,
                                           inputs: inputs, targets: targets, B: B, T: T)
            }
            #expect(gradientsMatch(analytic, numerical), "gradient of \(tensor.name)")
        }
        #expect(model.slots[0].gradients == nil, "no gradient buffer for a slot that never trained")
    }

    @Test func trainingOneSlotLeavesTheOtherAndTheBaseAsTheyWere() throws {
        let model = try twoSlotModel()
        let frozenBefore = try model.adapter(named: "frozen"), trainedBefore = try model.adapter(named: "trained")
        let baseBefore = model.namedParameters()
        let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 0.01, totalSteps: 3))
        for _ in 0..<3 { trainer.trainStep([TokenBatch(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T)]) }
        #expect(try model.adapter(named: "frozen") == frozenBefore)
        #expect(model.namedParameters() == baseBefore)
        #expect(try model.adapter(named: "trained").tensors.allSatisfy { t in trainedBefore[t.name]!.values != t.values })
    }

    @Test func anInactiveSlotIsLeftOutOfTheForwardPass() throws {
        let model = try twoSlotModel()
        let both = model.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, training: false)!
        model.activeSlots = ["trained"]
        let one = model.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, training: false)!
        let single = try TransformerModel(config: checkConfig, slots: [AdapterSlotSpec(name: "trained", lora: Self.trained)], seed: 31)
        try single.loadParameters(Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0) }))
        try single.setAdapter(model.adapter(named: "trained"), named: "trained")
        #expect(one == single.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, training: false)!)
        #expect(one != both)
    }

    @Test func someBaseBlocksTrainAndTheRestStayPut() throws {
        let model = TransformerModel(config: checkConfig, lora: nil, seed: 32)
        try model.setTrainable([.baseBlocks([1])])
        let before = model.namedParameters()
        let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 0.01, totalSteps: 2))
        for _ in 0..<2 { trainer.trainStep([TokenBatch(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T)]) }
        for (old, new) in zip(before, model.namedParameters()) {
            if old.name.hasPrefix("h.1.") && !old.name.hasSuffix("ln_1.bias") && !old.name.hasSuffix("ln_2.bias") {
                #expect(old.values != new.values, "\(old.name) trains")
            } else if !old.name.hasPrefix("h.1.") {
                #expect(old.values == new.values, "\(old.name) stays")
            }
        }
        #expect(trainer.optimizerState().groups.keys.sorted() == ["base.blocks.1"])
        #expect(trainer.optimizerState().groups["base.blocks.1"]!.m.count == model.parameterLayout.blocks[1].range.count)
    }

    @Test func optimizerStateKeepsEachGroupApartAndRestores() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let model = try twoSlotModel()
        let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 0.01, totalSteps: 4))
        let batch = TokenBatch(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T)
        trainer.trainStep([batch])
        try model.setTrainable([.slot("frozen")])
        trainer.trainStep([batch])
        trainer.trainStep([batch])
        let state = trainer.optimizerState()
        #expect(state.step == 3)
        #expect(state.groups["slot.trained"]?.steps == 1)
        #expect(state.groups["slot.frozen"]?.steps == 2)
        try state.write(to: folder.file("optimizer.safetensors"))
        let read = try OptimizerState.read(from: folder.file("optimizer.safetensors"))
        #expect(read == state)
        let other = try twoSlotModel()
        let restored = Trainer(model: other, schedule: LearningRateSchedule(peak: 0.01, totalSteps: 4))
        try restored.restore(read)
        #expect(restored.optimizerState() == state)
        #expect(throws: ModelError.unknownGroup("optimizer state names slot.missing")) {
            try restored.restore(OptimizerState(step: 1, groups: ["slot.missing": GroupMoments(steps: 1, m: [0], v: [0])]))
        }
    }

    @Test func aTargetTheFamilyLacksIsRefused() {
        #expect(throws: ModelError.adapterMismatch("slot x: target self_attn.q_proj is not a projection of a gpt2 block")) {
            _ = try TransformerModel(config: checkConfig, slots: [AdapterSlotSpec(name: "x", lora: LoRAConfig(targets: [.query]))], seed: 1)
        }
    }

    @Test func namedAdaptersRoundTripThroughAPEFTFolder() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let model = try twoSlotModel()
        let adapters = try model.slotNames.map { ($0, try model.adapter(named: $0)) }
        try PEFTAdapter.save(named: [("default", adapters[0].1), ("personal", adapters[1].1)], to: folder.path)
        #expect(FileSystem.exists(folder.file("adapter_model.safetensors")))
        #expect(FileSystem.exists(folder.file("personal/adapter_model.safetensors")))
        #expect(try PEFTAdapter.load(named: "default", from: folder.path) == adapters[0].1)
        #expect(try PEFTAdapter.load(named: "personal", from: folder.path) == adapters[1].1)
    }

    @Test func anAdapterNameSegmentInTensorNamesIsUnderstood() {
        #expect(PEFTAdapter.canonicalName("base_model.model.transformer.h.1.mlp.c_fc.lora_B.personal.weight")! == (1, .mlpIn, true))
        #expect(PEFTAdapter.canonicalName("base_model.model.transformer.h.0.attn.c_attn.lora_A.default.weight")! == (0, .attentionQKV, false))
    }

    @Test func aWiderMLPFromNInnerRunsAndRoundTrips() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let config = ModelConfig(layers: 1, heads: 2, channels: 8, maxSequenceLength: 8, vocabularySize: 11, mlpWidth: 20, normEpsilon: 1e-6)
        let model = TransformerModel(config: config, lora: LoRAConfig(rank: 2), seed: 5)
        #expect(model.namedParameters().first { $0.name == "h.0.mlp.c_fc.weight" }?.shape == [8, 20])
        #expect(model.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, training: true)!.isFinite)
        model.backward()
        try GPT2Checkpoint(model: model).save(to: folder.path)
        let loaded = try GPT2Checkpoint.load(from: folder.path)
        #expect(loaded.config == config)
    }

    @Test(arguments: [
        (#""scale_attn_by_inverse_layer_idx": true"#, "scale_attn_by_inverse_layer_idx true is not supported"),
        (#""reorder_and_upcast_attn": true"#, "reorder_and_upcast_attn true is not supported"),
        (#""tie_word_embeddings": false"#, "tie_word_embeddings false is not supported (the output layer is tied to wte)"),
        (#""activation_function": "relu""#, "activation_function relu is not supported (only gelu_new)"),
        (#""model_type": "llama""#, "model_type llama is not a GPT-2 checkpoint"),
    ])
    func aConfigFieldThatChangesTheComputationIsRefusedByName(field: String, message: String) throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.file("config.json")
        try #"{"n_layer": 1, "n_head": 2, "n_embd": 8, "n_positions": 8, "vocab_size": 11, \#(field)}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: GPT2CheckpointError.self) { try GPT2Checkpoint.readConfig(path) }
        #expect("\(error!)".contains(message), "\(error!)")
    }
}

@Suite struct SlotScaleTests {
    @Test func aScaleFactorOfTwoActsAsTwiceTheSlotsB() throws {
        let B = 2, T = 5
        let inputs = tokens(B * T, vocabulary: checkConfig.vocabularySize, seed: 500)
        let targets = tokens(B * T, vocabulary: checkConfig.vocabularySize, seed: 501)
        let model = TransformerModel(config: checkConfig, lora: LoRAConfig(rank: 2, alpha: 4, dropout: 0), seed: 50)
        let adapter = randomized(model.adapter(), seed: 510)
        try model.setAdapter(adapter)
        model.slotScaleFactors["default"] = 2
        let scaled = model.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, training: false)!
        model.slotScaleFactors = [:]
        var doubled = adapter
        for i in stride(from: 1, to: doubled.tensors.count, by: 2) { doubled.tensors[i].values = doubled.tensors[i].values.map { 2 * $0 } }
        try model.setAdapter(doubled)
        let reference = model.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, training: false)!
        #expect(abs(scaled - reference) < 1e-6)
    }
}
