// FDLoRA: personalized federated learning with dual LoRA tuning (Qi, Luan, Huang,
// Fung, Yang, Qian, "FDLoRA: Personalized Federated Learning of Large Language Model
// via Dual LoRA Tuning", arXiv 2406.07925), on a serverless node.
//
// Two LoRA slots of the same shape: `personal`, which never leaves the device, and
// `global`, the only slot published.
//
//   warm-up rounds (the paper's local stage): train `personal` alone on local data.
//   each later round (the federated stage):
//     g_prev ← global as the round starts (the last aggregate);
//     H = local_steps AdamW steps on `global` with `personal` frozen;
//     publish `global`; ḡ ← the aggregate of the received globals;
//     outer step as in DiLoCo (Douillard et al., arXiv 2311.08105), Nesterov:
//       Δ = g_prev − ḡ,   b ← μ b + Δ,   g ← g_prev − η (Δ + μ b);
//     adaptive fusion: (w1, w2) ← argmin over [−1.5, 1.5]² of
//       L_fusion(w) + 0.05 · (|w1| + |w2|) / 2 on batches of the trust split
//     (FusionSearch.swift); the served model is the fused one.
//
// Where this file chooses for itself:
// - Aggregation: the paper averages uniformly (`aggregation = "fedavg"`); any trust
//   strategy may aggregate instead, so that the global part is itself personalized.
//   Candidates are scored with the global slot alone applied.
// - The outer step is computed as g = (1 − η) g_prev + η ḡ − η μ b, the same number
//   in exact arithmetic; in floating point it makes η = 1, μ = 0 return ḡ bit for
//   bit, so FDLoRA then reduces exactly to averaging the globals.
// - Whether `personal` is applied while `global` trains is a setting
//   (`personal_in_global`); by default it is not, so the global slot learns what the
//   node's data need on their own, as a model every peer can use.
// - Synchronisation (`sync_every` = k > 0): at the start of every k-th federated
//   round after the first, `personal` trains `local_steps` steps on local data with the
//   freshly aggregated `global` applied and frozen, so the personal slot follows the
//   global one and keeps only what the node's data add to it.
// - Fusion: `factor` fuses A and B (LoraHub, the paper's), into a third slot `fused`
//   that never trains; `delta` keeps the branches and scales them (w1 ΔW_g + w2 ΔW_p).
//   The search starts from (1, 0), (0, 1) and the previous weights (first (1, 1)).
// - Momentum b is the scheme's state, saved with every round's checkpoint; training
//   continues on the unfused slots.

import Learning
import Trust

public final class FDLoRA: PersonalizationScheme {
    public static let schemeName = "fdlora"
    public static let globalSlot = "global"
    public static let personalSlot = "personal"
    /// The slot `factor` fusion writes the served adapter into.
    public static let fusedSlot = "fused"
    /// The scheme state's name of the fusion weights; momentum tensors are `momentum.<tensor>`.
    static let weightsName = "fusion.weights"

    let settings: SchemeSettings
    /// The global slot as the current round started.
    private var previousGlobal: LoRAAdapter?
    /// Outer momentum b, one tensor per adapter tensor (empty until the first outer step).
    private var momentum: [NamedTensor] = []
    private var weights: [Float]
    private var trustLoss: (() -> Double)?
    /// What the last fusion search did, for tests and logs.
    public private(set) var lastSearch: FusionSearchResult?

    public init(settings: SchemeSettings) {
        self.settings = settings
        weights = settings.fusionWeights ?? [1, 1]
    }

    public var name: String { Self.schemeName }

    /// `global` first: it draws the initial A that a one-slot model's adapter draws.
    public var slots: [AdapterSlotSpec] {
        var specs = [AdapterSlotSpec(name: Self.globalSlot, lora: settings.lora), AdapterSlotSpec(name: Self.personalSlot, lora: settings.lora)]
        if settings.fusion == .factor { specs.append(AdapterSlotSpec(name: Self.fusedSlot, lora: settings.lora)) }
        return specs
    }

    public var publishedSlot: String { Self.globalSlot }
    public var candidateSlot: String { Self.globalSlot }

    public func phases(round: Int) -> [TrainingPhase] {
        let steps = settings.localSteps
        guard aggregates(round: round) else {
            return [TrainingPhase(name: "personal", trains: [.slot(Self.personalSlot)], activeSlots: [Self.personalSlot], steps: steps)]
        }
        var phases: [TrainingPhase] = []
        let federated = round - settings.warmupRounds
        if settings.syncEvery > 0, federated > 1, (federated - 1) % settings.syncEvery == 0 {
            phases.append(TrainingPhase(
                name: "sync", trains: [.slot(Self.personalSlot)], activeSlots: [Self.globalSlot, Self.personalSlot], steps: steps))
        }
        let active: Set<String> = settings.personalInGlobalTraining ? [Self.globalSlot, Self.personalSlot] : [Self.globalSlot]
        phases.append(TrainingPhase(name: "global", trains: [.slot(Self.globalSlot)], activeSlots: active, steps: steps))
        return phases
    }

    public func aggregates(round: Int) -> Bool { round > settings.warmupRounds }

    public func attach(model: TransformerModel, trustLoss: @escaping () -> Double) throws {
        self.trustLoss = trustLoss
    }

    public func beginRound(round: Int, model: TransformerModel) throws {
        model.slotScaleFactors = [:]
        previousGlobal = aggregates(round: round) ? try model.adapter(named: Self.globalSlot) : nil
    }

    public func takeIn(aggregate: LoRAAdapter, model: TransformerModel, round: Int) throws {
        let start = try previousGlobal ?? model.adapter(named: Self.globalSlot)
        try model.setAdapter(outerStep(from: start, aggregate: aggregate), named: Self.globalSlot)
        previousGlobal = nil
        if settings.fusionWeights == nil, settings.fusionBudget > 0, let trustLoss {
            let previous = weights.map(Double.init)
            var start: [[Double]] = [[1, 0], [0, 1], previous]
            if start[..<2].contains(previous) { start[2] = [1, 1] }
            let result = try FusionSearch.minimise(start: start, budget: settings.fusionBudget) { w in
                try apply(weights: w.map(Float.init), to: model)
                return FusionSearch.objective(loss: trustLoss(), weights: w)
            }
            weights = result.weights.map(Float.init)
            lastSearch = result
        }
        try apply(weights: weights, to: model)
    }

    /// The outer Nesterov step: b ← μ b + Δ, g = (1 − η) g_prev + η ḡ − η μ b.
    func outerStep(from start: LoRAAdapter, aggregate: LoRAAdapter) throws -> LoRAAdapter {
        guard start.tensors.map(\.name) == aggregate.tensors.map(\.name) else {
            throw SchemeError("fdlora: the aggregate's tensors are not the global slot's")
        }
        let eta = settings.outerLearningRate, mu = settings.outerMomentum
        if momentum.isEmpty {
            momentum = start.tensors.map { NamedTensor(name: "momentum." + $0.name, shape: $0.shape, values: Array(repeating: 0, count: $0.count)) }
        }
        var tensors: [NamedTensor] = []
        for (k, (g, mean)) in zip(start.tensors, aggregate.tensors).enumerated() {
            var b = momentum[k].values, out = g.values
            for i in 0..<out.count {
                b[i] = mu * b[i] + (g.values[i] - mean.values[i])
                out[i] = (1 - eta) * g.values[i] + eta * mean.values[i] - eta * mu * b[i]
            }
            momentum[k].values = b
            tensors.append(NamedTensor(name: g.name, shape: g.shape, values: out))
        }
        return LoRAAdapter(config: start.config, tensors: tensors)
    }

    /// Sets the model up to serve the fusion with weights `w`.
    func apply(weights w: [Float], to model: TransformerModel) throws {
        switch settings.fusion {
        case .delta:
            model.activeSlots = [Self.globalSlot, Self.personalSlot]
            model.slotScaleFactors = [Self.globalSlot: w[0], Self.personalSlot: w[1]]
        case .factor:
            let g = try model.adapter(named: Self.globalSlot), p = try model.adapter(named: Self.personalSlot)
            let fused = zip(g.tensors, p.tensors).map { a, b in
                NamedTensor(name: a.name, shape: a.shape, values: zip(a.values, b.values).map { w[0] * $0 + w[1] * $1 })
            }
            try model.setAdapter(LoRAAdapter(config: g.config, tensors: fused), named: Self.fusedSlot)
            model.activeSlots = [Self.fusedSlot]
            model.slotScaleFactors = [:]
        }
    }

    public func configure(model: TransformerModel, for use: ModelUse) throws {
        switch use {
        case .scoring:
            model.activeSlots = [Self.globalSlot]
            model.slotScaleFactors = [:]
        case .serving:
            try apply(weights: weights, to: model)
        }
    }

    public var fusionWeights: [Double]? { weights.map(Double.init) }

    public var state: [NamedTensor] {
        [NamedTensor(name: Self.weightsName, shape: [2], values: weights)] + momentum
    }

    public func restore(state: [NamedTensor]) throws {
        guard let w = state.first(where: { $0.name == Self.weightsName }), w.values.count == 2 else {
            throw SchemeError("fdlora: the scheme state has no \(Self.weightsName) of two values")
        }
        let others = state.filter { $0.name != Self.weightsName }
        if let stray = others.first(where: { !$0.name.hasPrefix("momentum.") }) {
            throw SchemeError("fdlora: unknown scheme state tensor \(stray.name)")
        }
        weights = settings.fusionWeights ?? w.values
        momentum = others
    }
}
