import Foundation
import Learning
import Schemes
import Testing

@testable import Node

/// A model of `t`'s base carrying one adapter per given slot (and a bottleneck when
/// given), built apart from any scheme: the independent reference for a part.
func referenceModel(_ t: Topology, slots: [(name: String, adapter: LoRAAdapter)], bottleneck: [NamedTensor]? = nil, width: Int = 0) throws
    -> TransformerModel
{
    let s = t.nodes[0].settings
    let model = try ModelSource(parsing: s.baseModel, baseDirectory: t.baseDirectory).load(
        slots: slots.map { AdapterSlotSpec(name: $0.name, lora: $0.adapter.config) }, seed: s.seed, vocabularySize: 256)
    for (name, adapter) in slots { try model.setAdapter(adapter, named: name) }
    if let bottleneck {
        try model.addBottleneck(named: "adapter", width: width).set(bottleneck)
    }
    return model
}

@Suite(.serialized) struct CommittedModelTests {
    /// After an fdlora run, a node read back from its state folder serves the fusion the
    /// round loop measured; its parts are the global and the personal slot alone; one
    /// update's bytes are the encoded payload of the global slot.
    @Test(arguments: ["factor", "delta"])
    func anFDLoRANodeServesItsFusionAndItsPartsAreItsSlotsAlone(fusion: String) throws {
        let t = try preparedTopology(topologyText(name: "fd-served", settings: """
            scheme = "fdlora"
            aggregation = "fedavg"
            trust = "validation"
            fusion = "\(fusion)"
            fusion_budget = 12
            rounds = 3
            warmup_rounds = 1
            local_steps = 4
            lora = { rank = 2, alpha = 4, dropout = 0 }
            """), bytesPerNode: 4000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        _ = try runCapturing(t)
        let figures = try ExperimentNodeFigures.measure(t, rounds: 3)
        #expect(figures.partNames == ["global", "personal"])
        #expect(figures.publishedRounds == 2)
        for i in t.nodes.indices {
            let metrics = try #require(try StateDirectory(path: t.stateDirectory(of: i)).metrics().last)
            let testLoss = try #require(metrics.testLoss)
            let m = try NodeModel.committed(topology: t, index: i)
            #expect(abs(m.testLossAsConfigured() - testLoss) < 1e-6)
            let w = try #require(metrics.fusionWeights)
            #expect(figures.fusionWeights[i] == w)

            let g = try m.model.adapter(named: "global"), p = try m.model.adapter(named: "personal")
            func perplexity(_ model: TransformerModel) -> Double { exp(Double(model.evaluateLoss(batches: m.testEvaluationBatches))) }
            // The fusion by hand: one adapter of the weighted factors, or both branches scaled.
            let served: TransformerModel
            if fusion == "factor" {
                let fused = zip(g.tensors, p.tensors).map { a, b in
                    NamedTensor(name: a.name, shape: a.shape, values: zip(a.values, b.values).map { Float(w[0]) * $0 + Float(w[1]) * $1 })
                }
                served = try referenceModel(t, slots: [("default", LoRAAdapter(config: g.config, tensors: fused))])
            } else {
                served = try referenceModel(t, slots: [("global", g), ("personal", p)])
                served.slotScaleFactors = ["global": Float(w[0]), "personal": Float(w[1])]
            }
            #expect(abs(perplexity(served) - exp(testLoss)) < 1e-4 * exp(testLoss))
            let global = perplexity(try referenceModel(t, slots: [("default", g)]))
            let personal = perplexity(try referenceModel(t, slots: [("default", p)]))
            #expect(abs(figures.partPerplexities[i][0] - global) < 1e-4 * global)
            #expect(abs(figures.partPerplexities[i][1] - personal) < 1e-4 * personal)
            #expect(abs(global - personal) > 1e-3, "the two slots hold different adapters")

            let payload = try UpdatePayload.encode(g, scheme: "fdlora", slot: "global", baseDigest: m.baseDigest, kind: .lora)
            #expect(figures.payloadBytes[i] == payload.count)
            #expect(figures.publishedParameters == g.parameterCount)
        }
    }

    /// A pftt node's parts: the bottleneck adapter without the local LoRA, and the local
    /// LoRA on the bare base; one update carries the adapter's 2 · m · C floats per block.
    @Test func aPFTTNodesPartsAreTheAdapterAloneAndTheLocalLoRAAlone() throws {
        let t = try preparedTopology(topologyText(name: "pftt-served", settings: """
            scheme = "pftt"
            aggregation = "fedavg"
            trust = "validation"
            bottleneck = { width = 4 }
            rounds = 3
            warmup_rounds = 1
            local_steps = 4
            lora = { rank = 2, alpha = 4, dropout = 0 }
            """), bytesPerNode: 4000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        _ = try runCapturing(t)
        let figures = try ExperimentNodeFigures.measure(t, rounds: 3)
        #expect(figures.partNames == ["adapter", "local"])
        for i in t.nodes.indices {
            let metrics = try #require(try StateDirectory(path: t.stateDirectory(of: i)).metrics().last)
            let testLoss = try #require(metrics.testLoss)
            let m = try NodeModel.committed(topology: t, index: i)
            #expect(abs(m.testLossAsConfigured() - testLoss) < 1e-6)
            let adapter = try #require(m.model.bottleneck(named: "adapter")).tensors
            let local = try m.model.adapter(named: "local")
            func perplexity(_ model: TransformerModel) -> Double { exp(Double(model.evaluateLoss(batches: m.testEvaluationBatches))) }
            let adapterAlone = perplexity(try referenceModel(t, slots: [], bottleneck: adapter, width: 4))
            let localAlone = perplexity(try referenceModel(t, slots: [("local", local)]))
            let both = perplexity(try referenceModel(t, slots: [("local", local)], bottleneck: adapter, width: 4))
            #expect(abs(both - exp(testLoss)) < 1e-4 * both)
            #expect(abs(figures.partPerplexities[i][0] - adapterAlone) < 1e-4 * adapterAlone)
            #expect(abs(figures.partPerplexities[i][1] - localAlone) < 1e-4 * localAlone)
            // D [m, C] and U [C, m] per block: 2 · m · C · layers floats.
            let c = m.model.config.channels, layers = m.model.config.layers
            #expect(figures.publishedParameters == 2 * 4 * c * layers)
            let payload = try UpdatePayload.encode(
                LoRAAdapter(config: local.config, tensors: adapter), scheme: "pftt", slot: "adapter", baseDigest: m.baseDigest, kind: .bottleneck)
            #expect(figures.payloadBytes[i] == payload.count)
        }
    }
}
