// PFTT: personalized federated tuning with a shared adapter and a local LoRA (the
// PFTT setting of arXiv 2404.13238), on a serverless node.
//
// Two parts of the model train on the node's task loss every round:
//   - `adapter`: a bottleneck adapter in every block, h ← h + U·gelu(D·h) after the
//     block's MLP residual (D [m, C], U [C, m], U zero at start; `bottleneck.width` = m).
//     It is the only slot published, and the received adapters are aggregated
//     (`aggregation = "fedavg"` is the uniform average; a trust strategy is our
//     extension), then taken in as they are.
//   - `local`: a LoRA on the attention projections (attn.c_attn, attn.c_proj) with the
//     topology's rank and alpha, never published.
//
// Our choices: the first `warmup_rounds` rounds train both parts without aggregating;
// candidates are scored with the node's own local LoRA applied, as the node would
// serve them; the adapter's values are the scheme's state, so a resumed node continues
// with them (the node's checkpoint holds LoRA slots only).

import Learning
import Trust

public final class PFTT: PersonalizationScheme {
    public static let schemeName = "pftt"
    public static let adapterSlot = "adapter"
    public static let localSlot = "local"

    let settings: SchemeSettings
    private var model: TransformerModel?

    public init(settings: SchemeSettings) { self.settings = settings }

    public var name: String { Self.schemeName }

    public var slots: [AdapterSlotSpec] {
        let lora = settings.lora
        return [AdapterSlotSpec(
            name: Self.localSlot,
            lora: LoRAConfig(rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout, targets: [.attentionQKV, .attentionOutput]))]
    }

    public var publishedSlot: String { Self.adapterSlot }
    public var candidateSlot: String { Self.adapterSlot }
    public var publishedKind: AdapterKind { .bottleneck }

    public func phases(round: Int) -> [TrainingPhase] {
        [TrainingPhase(name: "local", trains: [.slot(Self.localSlot), .slot(Self.adapterSlot)], steps: settings.localSteps)]
    }

    public func aggregates(round: Int) -> Bool { round > settings.warmupRounds }

    public func attach(model: TransformerModel, trustLoss: @escaping () -> Double) throws {
        if model.bottleneck(named: Self.adapterSlot) == nil { try model.addBottleneck(named: Self.adapterSlot, width: settings.bottleneckWidth) }
        self.model = model
    }

    func adapter(_ model: TransformerModel) throws -> BottleneckSlot {
        guard let slot = model.bottleneck(named: Self.adapterSlot) else { throw SchemeError("pftt: the model has no bottleneck adapter") }
        return slot
    }

    public func published(model: TransformerModel) throws -> LoRAAdapter {
        LoRAAdapter(config: slots[0].lora, tensors: try adapter(model).tensors)
    }

    public func withCandidate<R>(_ candidate: LoRAAdapter, model: TransformerModel, _ body: () throws -> R) throws -> R {
        try model.withBottleneck(candidate.tensors, named: Self.adapterSlot, body)
    }

    public func takeIn(aggregate: LoRAAdapter, model: TransformerModel, round: Int) throws {
        try adapter(model).set(aggregate.tensors)
    }

    public var state: [NamedTensor] {
        guard let model, let slot = model.bottleneck(named: Self.adapterSlot) else { return [] }
        return slot.tensors
    }

    public func restore(state: [NamedTensor]) throws {
        guard let model else { throw SchemeError("pftt: restore before the model is attached") }
        try adapter(model).set(state)
    }
}
