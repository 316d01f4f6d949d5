// Small adapters and a stand-in model for the trust tests.

import Learning
import Testing

@testable import Trust

/// A rank-2 adapter on one projection with A `[2, 2]` and B `[2, 2]`, rows given
/// row-major.
func tinyAdapter(a: [Float], b: [Float]) -> LoRAAdapter {
    LoRAAdapter(
        config: LoRAConfig(rank: 2, targets: [.attentionQKV]),
        tensors: [
            NamedTensor(name: "h.0.attn.c_attn.lora_A", shape: [2, 2], values: a),
            NamedTensor(name: "h.0.attn.c_attn.lora_B", shape: [2, 2], values: b),
        ])
}

/// An adapter of the tiny layout whose every value is `tag`, so a fake evaluator can
/// tell candidates apart.
func taggedAdapter(_ tag: Float) -> LoRAAdapter {
    tinyAdapter(a: [tag, tag, tag, tag], b: [tag, tag, tag, tag])
}

/// An adapter in the GPT-2 layout with `layers` blocks of width `width` (C), LoRA rank
/// `rank` on all four projections, values from `fill`.
func gpt2Adapter(layers: Int, width: Int, rank: Int, fill: (Int) -> Float) -> LoRAAdapter {
    let lora = LoRAConfig(rank: rank)
    let shape = ModelConfig(layers: layers, heads: 1, channels: width, maxSequenceLength: 1, vocabularySize: 1)
    var next = 0
    let tensors = shape.adapterShapes(lora).map { name, shape in
        let n = shape[0] * shape[1]
        defer { next += n }
        return NamedTensor(name: name, shape: shape, values: (0..<n).map { fill(next + $0) })
    }
    return LoRAAdapter(config: lora, tensors: tensors)
}

/// A deterministic pseudo-random value in [-1, 1) for index `i` and stream `seed`.
func noise(_ i: Int, seed: UInt64) -> Float {
    var g = SeededGenerator(seed: seed &+ UInt64(i) &* 0x2545_F491_4F6C_DD1D)
    return Float(g.next() >> 40) / Float(1 << 23) - 1
}

/// A stand-in for the node's model: answers by the tag of the adapter (its first value)
/// and remembers which tags it was asked about, in order.
final class FakeEvaluator: CandidateEvaluator {
    var losses: [Float: Double] = [:]
    var topK: [Float: TopKLogits] = [:]
    private(set) var calls: [Float] = []

    init(losses: [Float: Double] = [:], topK: [Float: TopKLogits] = [:]) {
        self.losses = losses
        self.topK = topK
    }

    func meanCrossEntropy(of adapter: LoRAAdapter) throws -> Double {
        let tag = adapter.tensors[0].values[0]
        calls.append(tag)
        return try #require(losses[tag], "no loss for tag \(tag)")
    }

    func topKLogits(of adapter: LoRAAdapter, k: Int) throws -> TopKLogits {
        let tag = adapter.tensors[0].values[0]
        calls.append(tag)
        let answer = try #require(topK[tag], "no logits for tag \(tag)")
        #expect(answer.k == k)
        return answer
    }
}

/// |a − b| ≤ tolerance for every pair.
func expectClose(_ a: [Double], _ b: [Double], tolerance: Double = 1e-12, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, sourceLocation: sourceLocation)
    for (x, y) in zip(a, b) {
        #expect(abs(x - y) <= tolerance, "\(a) vs \(b)", sourceLocation: sourceLocation)
    }
}

/// The sum of a row.
func total(_ row: [Double]) -> Double { row.reduce(0, +) }
