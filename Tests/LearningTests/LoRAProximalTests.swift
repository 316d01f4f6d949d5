import Foundation
import Testing

@testable import Learning

/// ε · ‖s (B A − B₀ A₀)‖² and its gradient in A and B against a double reference.
@Suite struct LoRAProximalTests {
    /// The term in double over an adapter's (A, B) pairs, in the slot's order.
    static func reference(_ values: [[Double]], anchor: LoRAAdapter, shapes: [(r: Int, IN: Int, OUT: Int)], scale s: Double, epsilon: Double) -> Double {
        var total: Double = 0
        for (k, shape) in shapes.enumerated() {
            let A = values[2 * k], B = values[2 * k + 1]
            let A0 = anchor.tensors[2 * k].values, B0 = anchor.tensors[2 * k + 1].values
            for o in 0..<shape.OUT {
                for i in 0..<shape.IN {
                    var d: Double = 0
                    for j in 0..<shape.r {
                        d += B[o * shape.r + j] * A[j * shape.IN + i] - Double(B0[o * shape.r + j]) * Double(A0[j * shape.IN + i])
                    }
                    total += (s * d) * (s * d)
                }
            }
        }
        return epsilon * total
    }

    @Test func theProximalGradientMatchesFiniteDifferences() throws {
        let config = ModelConfig(layers: 2, heads: 2, channels: 4, maxSequenceLength: 4, vocabularySize: 8, mlpWidth: 6)
        let lora = LoRAConfig(rank: 2, alpha: 3, dropout: 0, targets: [.attentionOutput, .mlpOut], blocks: [1])
        let model = TransformerModel(config: config, lora: lora, seed: 1)
        var current = model.adapter(), anchor = current
        for i in current.tensors.indices {
            current.tensors[i].values = testValues(current.tensors[i].count, seed: UInt64(10 + i))
            anchor.tensors[i].values = testValues(anchor.tensors[i].count, seed: UInt64(20 + i))
        }
        try model.setAdapter(current)
        model.zeroGradients()
        let epsilon: Float = 0.3
        let value = try model.addProximalGradient(slot: TransformerModel.defaultSlot, anchor: anchor, epsilon: epsilon)
        let shapes = stride(from: 0, to: current.tensors.count, by: 2).map { k in
            (r: 2, IN: current.tensors[k].shape[1], OUT: current.tensors[k + 1].shape[0])
        }
        let s = Double(lora.scale)
        let doubles = current.tensors.map { $0.values.doubles }
        #expect(abs(Double(value) - Self.reference(doubles, anchor: anchor, shapes: shapes, scale: s, epsilon: Double(epsilon))) < 1e-4 * Double(value))
        let gradients = model.slot(named: TransformerModel.defaultSlot)!.gradients!.array
        let flat = doubles.flatMap { $0 }
        let numerical = numericalGradient(flat) { x in
            var split: [[Double]] = [], offset = 0
            for t in current.tensors {
                split.append(Array(x[offset..<(offset + t.count)]))
                offset += t.count
            }
            return Self.reference(split, anchor: anchor, shapes: shapes, scale: s, epsilon: Double(epsilon))
        }
        #expect(gradientsMatch(gradients, numerical))
    }

    @Test func atTheAnchorTheTermAndItsGradientAreZero() throws {
        let model = TransformerModel(config: .tiny, lora: LoRAConfig(rank: 2, dropout: 0), seed: 1)
        var adapter = model.adapter()
        for i in adapter.tensors.indices { adapter.tensors[i].values = testValues(adapter.tensors[i].count, seed: UInt64(i)) }
        try model.setAdapter(adapter)
        model.zeroGradients()
        let value = try model.addProximalGradient(slot: TransformerModel.defaultSlot, anchor: adapter, epsilon: 1)
        #expect(value == 0)
        #expect(model.gradientNorm() == 0)
    }
}
