// Collaborative: personalized collaborative fine-tuning with trust (Wagner, Fan, Jaggi,
// "Personalized Collaborative Fine-Tuning for On-Device Large Language Models",
// arXiv 2404.09753).
//
// One LoRA slot. Each round (Algorithm 1 of the paper): `local_steps` AdamW steps on
// the slot; publish it; the trust row over the candidates; θ_i ← Σ_j w_ij θ_j on every
// A and B; the optimizer state stays local. The first `warmup_rounds` rounds train
// alone (the paper aggregates first at iteration 100 of 500).

import Learning
import Trust

public final class Collaborative: PersonalizationScheme {
    public static let schemeName = "collaborative"
    /// The one slot, PEFT's default adapter.
    public static let slot = TransformerModel.defaultSlot

    let settings: SchemeSettings

    public init(settings: SchemeSettings) { self.settings = settings }

    public var name: String { Self.schemeName }
    public var slots: [AdapterSlotSpec] { [AdapterSlotSpec(name: Self.slot, lora: settings.lora)] }
    public var publishedSlot: String { Self.slot }
    public var candidateSlot: String { Self.slot }

    public func phases(round: Int) -> [TrainingPhase] {
        [TrainingPhase(name: "local", trains: [.slot(Self.slot)], steps: settings.localSteps)]
    }

    public func aggregates(round: Int) -> Bool { round > settings.warmupRounds }

    public func takeIn(aggregate: LoRAAdapter, model: TransformerModel, round: Int) throws {
        try model.setAdapter(aggregate, named: Self.slot)
    }

    public var state: [NamedTensor] { [] }

    public func restore(state: [NamedTensor]) throws {
        guard state.isEmpty else { throw SchemeError("collaborative keeps no scheme state; found \(state.map(\.name))") }
    }
}
