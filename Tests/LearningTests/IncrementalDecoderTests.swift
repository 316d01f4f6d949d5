// Incremental decoding over a KV cache against the full forward of the same model.

import Testing

@testable import Learning

/// A tiny model of `family` whose LoRA slot (and, when asked, a bottleneck slot) hold
/// random values, so that every adapter path shapes the logits.
private func decodingModel(_ config: ModelConfig, bottleneck: Bool = false, seed: UInt64 = 5) throws -> TransformerModel {
    let model = TransformerModel(config: config, lora: LoRAConfig(rank: 2), seed: seed)
    try model.setAdapter(randomized(model.adapter(), seed: seed + 1))
    if bottleneck {
        let slot = try model.addBottleneck(named: "adapter", width: 3)
        try slot.set(slot.tensors.enumerated().map { k, t in
            var t = t
            t.values = testValues(t.count, seed: seed + 10 + UInt64(k), scale: 0.3)
            return t
        })
    }
    return model
}

private let llamaCheck = ModelConfig.llama(layers: 2, heads: 4, kvHeads: 2, channels: 16, mlpWidth: 24,
                                           maxSequenceLength: 12, vocabularySize: 23)
private let gpt2Check = ModelConfig(layers: 2, heads: 2, channels: 16, maxSequenceLength: 12, vocabularySize: 23)

@Suite struct IncrementalDecoderTests {
    @Test(arguments: [gpt2Check, llamaCheck])
    func logitsOfEachNewPositionEqualTheFullForward(config: ModelConfig) throws {
        let model = try decodingModel(config, bottleneck: true)
        let ids = tokens(10, vocabulary: config.vocabularySize, seed: 3)
        let V = config.vocabularySize
        model.forward(inputs: ids, targets: nil, batchSize: 1, sequenceLength: ids.count, training: false)
        let full = model.withLogits { Array($0) }
        // A prefill of 4 positions, then one position at a time, then a chunk of 3.
        let decoder = IncrementalDecoder(model: model, rows: 1, capacity: 12)
        var cached = decoder.forward(tokens: Array(ids[0..<4]), rows: 1, allPositions: true)
        for t in 4..<7 { cached += decoder.forward(tokens: [ids[t]], rows: 1) }
        cached += decoder.forward(tokens: Array(ids[7..<10]), rows: 1, allPositions: true)
        #expect(cached.count == 10 * V)
        #expect(decoder.cache.length == 10)
        let worst = zip(cached, full).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5, "largest logit difference \(worst)")
    }

    @Test(arguments: [gpt2Check, llamaCheck])
    func rowsOfABatchAreIndependentSequences(config: ModelConfig) throws {
        let model = try decodingModel(config)
        let a = tokens(6, vocabulary: config.vocabularySize, seed: 1), b = tokens(6, vocabulary: config.vocabularySize, seed: 2)
        let V = config.vocabularySize
        let together = IncrementalDecoder(model: model, rows: 2, capacity: 8).forward(tokens: a + b, rows: 2)
        for (row, ids) in [a, b].enumerated() {
            let alone = IncrementalDecoder(model: model, rows: 1, capacity: 8).forward(tokens: ids, rows: 1)
            let worst = zip(together[(row * V)..<((row + 1) * V)], alone).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-5)
        }
    }

    @Test(arguments: [gpt2Check, llamaCheck], [Float(0), 1])
    func cachedSamplesEqualTheUncachedPathSeedBySeed(config: ModelConfig, temperature: Float) throws {
        let model = try decodingModel(config)
        let generator = TextGenerator(model: model, temperature: temperature, topK: temperature == 0 ? nil : 8)
        let prompt = tokens(3, vocabulary: config.vocabularySize, seed: 9)
        let seeds: [UInt64] = [11, 12, 13, 14]
        let cached = generator.continuations(of: prompt, count: 8, seeds: seeds)
        for (b, seed) in seeds.enumerated() {
            #expect(cached[b] == generator.continuation(of: prompt, count: 8, seed: seed))
        }
        if temperature > 0 { #expect(Set(cached).count > 1, "different seeds drew the same continuation") }
    }

    @Test(arguments: [gpt2Check, llamaCheck])
    func aContinuationPastTheContextSlidesItsWindowAsTheUncachedPathDoes(config: ModelConfig) throws {
        let model = try decodingModel(config)
        let generator = TextGenerator(model: model, temperature: 1)
        let prompt = tokens(7, vocabulary: config.vocabularySize, seed: 4)
        let cached = generator.continuations(of: prompt, count: 9, seeds: [21, 22])
        #expect(cached[0] == generator.continuation(of: prompt, count: 9, seed: 21))
        #expect(cached[1] == generator.continuation(of: prompt, count: 9, seed: 22))
    }

    @Test func prefillRunsThePromptOnceForEveryRow() throws {
        let model = try decodingModel(llamaCheck)
        let decoder = IncrementalDecoder(model: model, rows: 3, capacity: 8)
        let prompt = tokens(5, vocabulary: llamaCheck.vocabularySize, seed: 8)
        let logits = decoder.prefill(prompt)
        let V = llamaCheck.vocabularySize
        #expect(Array(logits[0..<V]) == Array(logits[(2 * V)..<(3 * V)]))
        #expect(decoder.cache.length == 5)
        // Row 2's cache continues as row 0's does.
        let next = decoder.forward(tokens: [1, 2, 1], rows: 3)
        #expect(Array(next[0..<V]) == Array(next[(2 * V)..<(3 * V)]))
    }
}
