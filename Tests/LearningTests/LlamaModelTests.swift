// TransformerModel with the Llama family: its logits against transformers' and peft's
// float64 logits of the committed fixtures, and its gradients (whole base, and a LoRA
// slot on all seven projections) against central differences of the double-precision
// reference's loss.

import Foundation
import Testing

@testable import Learning

@Suite struct LlamaModelTests {
    /// The engine's shape for a reference shape.
    static func config(_ s: LlamaShape, qkvBias: Bool, context: Int = 64) -> ModelConfig {
        .llama(layers: s.layers, heads: s.heads, kvHeads: s.kvHeads, channels: s.channels, mlpWidth: s.hiddenMLP,
               maxSequenceLength: context, vocabularySize: s.vocabularySize, ropeTheta: Float(s.ropeTheta),
               normEpsilon: Float(s.epsilon), tiedEmbeddings: s.tied, qkvBias: qkvBias)
    }

    /// The fixture's base (and adapter) loaded from its folder as every command loads it.
    static func model(_ name: String, adapted: Bool) throws -> TransformerModel {
        let checkpoint = try LlamaCheckpoint.load(from: Fixture.path(name))
        guard adapted else { return try TransformerModel(config: checkpoint.config, lora: nil, seed: 1, parameters: checkpoint.parameters) }
        let adapter = try PEFTAdapter.load(from: Fixture.path("\(name)/adapter"))
        let model = try TransformerModel(config: checkpoint.config, lora: adapter.config, seed: 1, parameters: checkpoint.parameters)
        try model.setAdapter(adapter)
        return model
    }

    @Test(arguments: LlamaReferenceTests.fixtures)
    func logitsMatchTransformers(name: String) throws {
        let fixture = try LlamaFixture(name)
        let model = try Self.model(name, adapted: false)
        let T = fixture.tokens.count
        let loss = model.forward(inputs: fixture.tokens, targets: fixture.targets, batchSize: 1, sequenceLength: T, training: false)!
        let difference = model.withLogits { maxAbsDifference(Array($0).doubles, fixture.logits) }
        #expect(difference <= 1e-4, "max |Δ logit| = \(difference)")
        #expect(abs(Double(loss) - fixture.loss) <= 1e-4)
    }

    @Test(arguments: LlamaReferenceTests.fixtures)
    func logitsWithThePEFTAdapterMatchPEFT(name: String) throws {
        let fixture = try LlamaFixture(name)
        let model = try Self.model(name, adapted: true)
        #expect(model.slotConfig(named: TransformerModel.defaultSlot)?.targets.count == 7)
        let T = fixture.tokens.count
        let loss = model.forward(inputs: fixture.tokens, targets: fixture.targets, batchSize: 1, sequenceLength: T, training: false)!
        let difference = model.withLogits { maxAbsDifference(Array($0).doubles, fixture.adaptedLogits) }
        #expect(difference <= 1e-4, "max |Δ logit| = \(difference)")
        #expect(abs(Double(loss) - fixture.adaptedLoss) <= 1e-4)
    }

    @Test func aBatchOfTwoIsEachSequenceAlone() throws {
        let fixture = try LlamaFixture("tiny-qwen2")
        let model = try Self.model("tiny-qwen2", adapted: true)
        let first = fixture.tokens, second = Array(fixture.tokens.reversed()), T = first.count
        func logits(_ tokens: [Int32], B: Int) -> [Float] {
            model.forward(inputs: tokens, targets: nil, batchSize: B, sequenceLength: T, training: false)
            return model.withLogits { Array($0) }
        }
        let batch = logits(first + second, B: 2), V = fixture.shape.vocabularySize
        #expect(maxAbsDifference(Array(batch[(T * V)...]).doubles, logits(second, B: 1).doubles) < 1e-5)
        #expect(maxAbsDifference(Array(batch[..<(T * V)]).doubles, fixture.adaptedLogits) <= 1e-4)
    }

    // MARK: - Gradients

    static let (B, T) = (2, 5)
    static let tokens: [Int32] = [1, 7, 3, 3, 10, 0, 2, 9, 4, 6]
    static let targets: [Int32] = [7, 3, 3, 10, -1, 2, 9, 4, 6, 5]

    /// A small Llama with q/k/v biases and an untied output (the two-block kernel test's
    /// parameters), tied when asked (then without lm_head).
    static func gradientModel(tied: Bool, lora: LoRAConfig?) throws -> (TransformerModel, [String: [Double]], LlamaShape) {
        var shape = LlamaBlockGradientTests.shape
        shape.tied = tied
        var parameters = LlamaBlockGradientTests.parameters()
        if tied { parameters["lm_head.weight"] = nil }
        let config = config(shape, qkvBias: true, context: 8)
        let tensors = Dictionary(uniqueKeysWithValues: config.parameterShapes.map { entry in
            (entry.name, NamedTensor(name: entry.name, shape: entry.shape, values: parameters[entry.name]!))
        })
        #expect(tensors.count == parameters.count)
        let model = try TransformerModel(config: config, lora: lora, seed: 5, parameters: tensors)
        return (model, parameters.mapValues(\.doubles), shape)
    }

    @Test(arguments: [false, true])
    func fullModelGradientsMatchFiniteDifferences(tied: Bool) throws {
        let (model, parameters, shape) = try Self.gradientModel(tied: tied, lora: nil)
        let loss = model.forward(inputs: Self.tokens, targets: Self.targets, batchSize: Self.B, sequenceLength: Self.T, training: false)!
        func referenceLoss(_ p: [String: [Double]]) -> Double {
            ReferenceLlama.loss(shape: shape, parameters: p, adapter: nil, tokens: Self.tokens, targets: Self.targets, B: Self.B, T: Self.T)
        }
        #expect(abs(Double(loss) - referenceLoss(parameters)) < 1e-5)
        model.zeroGradients()
        model.backward()
        for slot in model.parameterLayout.slots {
            let indices = Array(stride(from: slot.name.count % 2, to: slot.count, by: 2))
            let analytic = indices.map { model.parameterGradients!.pointer[slot.offset + $0] }
            let numerical = indices.map { i in
                centralDifference(parameters[slot.name]!, at: i) { values in
                    var p = parameters
                    p[slot.name] = values
                    return referenceLoss(p)
                }
            }
            #expect(gradientsMatch(analytic, numerical), "gradient of \(slot.name)")
        }
    }

    @Test func oneBlockTrainsAloneWithTheGradientsOfTheWholeBase() throws {
        let (full, _, _) = try Self.gradientModel(tied: false, lora: nil)
        let (block, _, _) = try Self.gradientModel(tied: false, lora: nil)
        try block.setTrainable([.baseBlocks([1])])
        for model in [full, block] {
            model.zeroGradients()
            model.forward(inputs: Self.tokens, targets: Self.targets, batchSize: Self.B, sequenceLength: Self.T, training: false)
            model.backward()
        }
        let range = block.parameterLayout.blocks[1].range
        #expect(block.trainableParameterCount == range.count)
        let own = Array(UnsafeBufferPointer(start: block.parameterGradients!.pointer + range.lowerBound, count: range.count))
        let whole = Array(UnsafeBufferPointer(start: full.parameterGradients!.pointer + range.lowerBound, count: range.count))
        #expect(own == whole)
        #expect(own.contains { $0 != 0 })
        // Nothing outside block 1 was written.
        let all = block.parameterGradients!.array
        #expect(all[..<range.lowerBound].allSatisfy { $0 == 0 } && all[range.upperBound...].allSatisfy { $0 == 0 })
        #expect(block.parameterLayout.slots.filter { range.contains($0.offset) }.allSatisfy { $0.name.hasPrefix("model.layers.1.") })
    }

    @Test func loraGradientsOnAllSevenProjectionsMatchFiniteDifferences() throws {
        let targets: [LoRAConfig.Target] = [.query, .key, .value, .output, .gate, .up, .down]
        let lora = LoRAConfig(rank: LlamaBlockGradientTests.rank, alpha: LlamaBlockGradientTests.scale * Float(LlamaBlockGradientTests.rank),
                              dropout: 0.1, targets: targets)
        let (model, parameters, shape) = try Self.gradientModel(tied: false, lora: lora)
        // PEFT names in, canonical names in the model.
        let peft = LlamaBlockGradientTests.adapter()
        let named = peft.keys.sorted().map { name in
            let parsed = PEFTAdapter.canonicalName(name)!
            let projection = model.config.projection(parsed.target)!
            let shape = parsed.isB ? [projection.outFeatures, lora.rank] : [lora.rank, projection.inFeatures]
            return NamedTensor(name: name, shape: shape, values: peft[name]!)
        }
        let adapter = try PEFTAdapter.assemble(named, alpha: lora.alpha, dropout: lora.dropout, rank: lora.rank, blocks: nil)
        try model.setAdapter(adapter)
        model.zeroGradients()
        let loss = model.forward(inputs: Self.tokens, targets: Self.targets, batchSize: Self.B, sequenceLength: Self.T, training: false)!
        model.backward()
        let doubles = peft.mapValues(\.doubles)
        func referenceLoss(_ tensors: [String: [Double]]) -> Double {
            ReferenceLlama.loss(shape: shape, parameters: parameters,
                                adapter: ReferenceLlama.Adapter(tensors: tensors, rank: lora.rank, scale: Double(lora.scale)),
                                tokens: Self.tokens, targets: Self.targets, B: Self.B, T: Self.T)
        }
        #expect(abs(Double(loss) - referenceLoss(doubles)) < 1e-5)
        let gradients = model.slots[0].gradients!.array
        var offset = 0
        for tensor in adapter.tensors {
            let analytic = Array(gradients[offset..<(offset + tensor.count)])
            offset += tensor.count
            let name = PEFTAdapter.peftName(tensor.name)
            let numerical = numericalGradient(doubles[name]!) { values in
                var changed = doubles
                changed[name] = values
                return referenceLoss(changed)
            }
            #expect(gradientsMatch(analytic, numerical), "gradient of \(name)")
        }
        // Nothing below needed a base gradient.
        #expect(model.parameterGradients == nil)
    }
}
