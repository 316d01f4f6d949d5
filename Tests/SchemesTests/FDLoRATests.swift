import Foundation
import Learning
import Testing

@testable import Schemes

private let lora = LoRAConfig(rank: 2, alpha: 4, dropout: 0)

/// An adapter of the tiny model's shapes whose every value is `value(i)` of its flat index.
private func adapter(_ value: (Int) -> Float) -> LoRAAdapter {
    var k = 0
    let tensors = ModelConfig.tiny.adapterShapes(lora).map { name, shape in
        NamedTensor(name: name, shape: shape, values: (0..<(shape[0] * shape[1])).map { _ in
            defer { k += 1 }
            return value(k)
        })
    }
    return LoRAAdapter(config: lora, tensors: tensors)
}

@Suite struct FDLoRATests {
    func settings(eta: Float, mu: Float) -> SchemeSettings {
        var s = SchemeSettings(lora: lora, localSteps: 3, warmupRounds: 2)
        s.outerLearningRate = eta
        s.outerMomentum = mu
        return s
    }

    @Test func onlyTheGlobalSlotIsPublishedAndScored() {
        let scheme = FDLoRA(settings: settings(eta: 1, mu: 0))
        #expect(scheme.slots.map(\.name) == ["global", "personal", "fused"])
        #expect(scheme.publishedSlot == "global" && scheme.candidateSlot == "global")
        var delta = settings(eta: 1, mu: 0)
        delta.fusion = .delta
        #expect(FDLoRA(settings: delta).slots.map(\.name) == ["global", "personal"])
    }

    @Test func warmUpTrainsThePersonalSlotAndLaterRoundsTheGlobalOne() {
        var s = settings(eta: 1, mu: 0)
        s.syncEvery = 2
        let scheme = FDLoRA(settings: s)
        #expect(scheme.phases(round: 1) == [TrainingPhase(name: "personal", trains: [.slot("personal")], activeSlots: ["personal"], steps: 3)])
        #expect(!scheme.aggregates(round: 2) && scheme.aggregates(round: 3))
        let global = TrainingPhase(name: "global", trains: [.slot("global")], activeSlots: ["global"], steps: 3)
        let sync = TrainingPhase(name: "sync", trains: [.slot("personal")], activeSlots: ["global", "personal"], steps: 3)
        // Federated rounds 1, 2, 3, 4, 5 are rounds 3 … 7; the refresh opens federated rounds 3 and 5.
        #expect((3...7).map { scheme.phases(round: $0) } == [[global], [global], [sync, global], [global], [sync, global]])
        s.personalInGlobalTraining = true
        #expect(FDLoRA(settings: s).phases(round: 3).last?.activeSlots == ["global", "personal"])
    }

    @Test func theOuterStepIsNesterovMomentumOnTheAveragedChange() throws {
        let scheme = FDLoRA(settings: settings(eta: 0.7, mu: 0.9))
        let start = adapter { Float($0 % 7) * 0.25 }
        let mean1 = adapter { Float($0 % 5) * 0.1 }
        let g1 = try scheme.outerStep(from: start, aggregate: mean1)
        // b1 = Δ1; g1 = g0 − η (Δ1 + μ b1), by hand for every value.
        for (t, (s, m)) in zip(g1.tensors, zip(start.tensors, mean1.tensors)) {
            for i in 0..<t.count {
                let d = s.values[i] - m.values[i]
                #expect(abs(t.values[i] - (s.values[i] - 0.7 * (d + 0.9 * d))) < 1e-6)
            }
        }
        let mean2 = adapter { Float($0 % 3) * -0.2 }
        let g2 = try scheme.outerStep(from: g1, aggregate: mean2)
        for k in g2.tensors.indices {
            for i in 0..<g2.tensors[k].count {
                let d1 = start.tensors[k].values[i] - mean1.tensors[k].values[i]
                let d2 = g1.tensors[k].values[i] - mean2.tensors[k].values[i]
                let b2 = 0.9 * d1 + d2
                #expect(abs(g2.tensors[k].values[i] - (g1.tensors[k].values[i] - 0.7 * (d2 + 0.9 * b2))) < 1e-5)
            }
        }
        // The momentum is the scheme's state and comes back with it.
        let restored = FDLoRA(settings: settings(eta: 0.7, mu: 0.9))
        try restored.restore(state: scheme.state)
        #expect(restored.state == scheme.state)
        let mean3 = adapter { Float($0 % 11) * 0.05 }
        #expect(try restored.outerStep(from: g2, aggregate: mean3) == scheme.outerStep(from: g2, aggregate: mean3))
    }

    @Test func withStepOneAndNoMomentumTheOuterStepIsTheAverageBitForBit() throws {
        let scheme = FDLoRA(settings: settings(eta: 1, mu: 0))
        let start = adapter { Float($0 % 13) * 0.37 - 1.1 }, mean = adapter { sin(Float($0)) * 0.3 }
        #expect(try scheme.outerStep(from: start, aggregate: mean) == mean)
    }

    @Test func aStateWithoutFusionWeightsIsRefused() {
        let scheme = FDLoRA(settings: settings(eta: 1, mu: 0))
        #expect(throws: SchemeError("fdlora: the scheme state has no fusion.weights of two values")) { try scheme.restore(state: []) }
    }

    @Test func deltaFusionScalesTheBranchesAndFactorFusionMixesTheirFactors() throws {
        for mode in FusionMode.allCases {
            var s = settings(eta: 1, mu: 0)
            s.fusion = mode
            let scheme = FDLoRA(settings: s)
            let model = try TransformerModel(config: .tiny, slots: scheme.slots, seed: 5)
            let g = adapter { Float($0 % 7) * 0.01 }, p = adapter { Float($0 % 5) * -0.02 }
            try model.setAdapter(g, named: "global")
            try model.setAdapter(p, named: "personal")
            try scheme.apply(weights: [0.5, -1.25], to: model)
            switch mode {
            case .delta:
                #expect(model.activeSlots == ["global", "personal"])
                #expect(model.slotScaleFactors == ["global": 0.5, "personal": -1.25])
            case .factor:
                #expect(model.activeSlots == ["fused"])
                let fused = try model.adapter(named: "fused")
                for (f, (a, b)) in zip(fused.tensors, zip(g.tensors, p.tensors)) {
                    #expect(f.values == zip(a.values, b.values).map { 0.5 * $0 + -1.25 * $1 })
                }
            }
        }
    }
}
