// A bottleneck slot inside the model: a new one changes nothing, and the gradients the
// model's backward pass gives D and U (and a LoRA slot below it) match central
// differences of the model's own loss.

import Foundation
import Testing

@testable import Learning

@Suite struct BottleneckSlotTests {
    let inputs: [Int32] = [3, 17, 200, 45, 9, 9, 120, 64, 1, 250, 33, 7]
    let targets: [Int32] = [17, 200, 45, 9, 9, 120, 64, 1, 250, 33, 7, 80]

    func model() throws -> TransformerModel {
        let m = try TransformerModel(
            config: .tiny, slots: [AdapterSlotSpec(name: "local", lora: LoRAConfig(rank: 2, alpha: 4, dropout: 0, targets: [.attentionQKV]))],
            seed: 9)
        try m.addBottleneck(named: "adapter", width: 3)
        return m
    }

    func loss(_ m: TransformerModel) -> Double {
        Double(m.forward(inputs: inputs, targets: targets, batchSize: 2, sequenceLength: 6, training: false)!)
    }

    @Test func aNewBottleneckLeavesTheModelAsItWas() throws {
        let plain = try TransformerModel(
            config: .tiny, slots: [AdapterSlotSpec(name: "local", lora: LoRAConfig(rank: 2, alpha: 4, dropout: 0, targets: [.attentionQKV]))],
            seed: 9)
        let m = try model()
        #expect(loss(m) == loss(plain))
        #expect(m.bottleneck(named: "adapter")!.tensors.map(\.name) == [
            "h.0.adapter.down.weight", "h.0.adapter.up.weight", "h.1.adapter.down.weight", "h.1.adapter.up.weight",
        ])
        #expect(m.bottleneck(named: "adapter")!.tensors.map(\.shape) == [[3, 32], [32, 3], [3, 32], [32, 3]])
    }

    @Test func theModelsGradientsMatchFiniteDifferences() throws {
        let m = try model()
        let slot = m.bottleneck(named: "adapter")!
        var random = SeededRandom(seed: 4)
        try slot.set(slot.tensors.map { t in NamedTensor(name: t.name, shape: t.shape, values: t.values.map { _ in random.uniform(-0.5, 0.5) }) })
        try m.setAdapter(LoRAAdapter(config: m.slotConfig(named: "local")!, tensors: m.adapter(named: "local").tensors.map { t in
            NamedTensor(name: t.name, shape: t.shape, values: t.values.map { _ in random.uniform(-0.3, 0.3) })
        }), named: "local")
        try m.setTrainable([.slot("adapter"), .slot("local")])
        m.zeroGradients()
        _ = loss(m)
        m.backward()
        let segments = m.groupSegments(.slot("adapter")) + m.groupSegments(.slot("local"))
        // Probe values spread over both blocks' D and U and the LoRA slot under them.
        var checked = 0
        for segment in segments {
            for i in stride(from: 1, to: segment.count, by: max(1, segment.count / 12)) {
                let saved = segment.values[i], h: Float = 1e-2
                segment.values[i] = saved + h
                let up = loss(m)
                segment.values[i] = saved - h
                let down = loss(m)
                segment.values[i] = saved
                let numerical = (up - down) / Double(2 * h)
                let analytic = Double(segment.gradients[i])
                #expect(abs(analytic - numerical) <= 2e-3 + 2e-2 * abs(numerical), "value \(i): analytic \(analytic), numerical \(numerical)")
                checked += 1
            }
        }
        #expect(checked >= 20)
    }
}
