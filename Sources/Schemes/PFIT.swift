// PFIT: personalized federated instruction tuning by reinforcement learning (the PFIT
// setting of arXiv 2404.13238), on a serverless node.
//
// Each node tunes the shared model toward its own mixture of rewards,
//     r_i(x, y) = Σ_m α_im R_m(x, y),
// and only the low-rank policy weights (the LoRA slot `policy`) are published and
// aggregated (`aggregation = "fedavg"` is the paper's averaging; a trust strategy is our
// extension). α and the reward models never leave the device.
//
// Per round:
//   1. warm-up rounds (`warmup_rounds`): `local_steps` supervised steps of the policy on
//      the node's own text, no aggregation;
//   2. afterwards: the round's reference π_ref is the policy as the round starts (the
//      last aggregate taken in); `local_steps` policy steps, each on one prompt:
//      G completions sampled through the KV cache, scored by every reward of the
//      mixture, group advantages, then the clipped (or plain) policy gradient with
//      β · KL(π ‖ π_ref) by the k3 estimator (Learning/Model/Generation/PolicyGradient.swift);
//      then publish and aggregate.
//
// Our choices, since no reward model can be downloaded here: the rewards are ones the
// node computes or trains itself (Rewards/): arithmetic correctness, a style classifier
// trained on the node's own text against the reference text, fluency under the frozen
// base, a length band. A prompt is an arithmetic question with probability α_arithmetic
// / Σα, otherwise a window of the node's own text. The policy steps use their own AdamW
// state and a constant learning rate (`pfit.learning_rate`), apart from the warm-up's.
// The reward models are rebuilt from the node's text when it starts, so a resumed node
// has the same ones; the RL optimizer moments are not resumed.

import Foundation
import Learning
import Trust

public final class PFIT: PersonalizationScheme {
    public static let schemeName = "pfit"
    public static let policySlot = "policy"

    let settings: SchemeSettings
    var pfit: PFITSettings { settings.pfit }
    private var model: TransformerModel?
    private var tokenizer: (any Tokenizer)?
    private var ownText: [Int32] = []
    private var trainer: Trainer?
    private var seed: UInt64 = 0
    /// The node's reward models by name: the components of its mixture.
    public private(set) var rewards: [String: any Reward] = [:]
    public private(set) var roundFigures: [String: Double]?

    public init(settings: SchemeSettings) { self.settings = settings }

    public var name: String { Self.schemeName }
    public var slots: [AdapterSlotSpec] { [AdapterSlotSpec(name: Self.policySlot, lora: settings.lora)] }
    public var publishedSlot: String { Self.policySlot }
    public var candidateSlot: String { Self.policySlot }

    public func phases(round: Int) -> [TrainingPhase] {
        round <= settings.warmupRounds ? [TrainingPhase(name: "warmup", trains: [.slot(Self.policySlot)], steps: settings.localSteps)] : []
    }

    public func aggregates(round: Int) -> Bool { round > settings.warmupRounds }

    public func attach(model: TransformerModel, trustLoss: @escaping () -> Double) throws { self.model = model }

    /// Builds the node's reward models from its own text and the reference text, both as
    /// ids of `tokenizer`. `seed` is the node's: its prompts and samples are its own.
    public func attach(ownText: [Int32], referenceText: [Int32], tokenizer: any Tokenizer, seed: UInt64) throws {
        guard let model else { throw SchemeError("pfit: text before the model is attached") }
        guard ownText.count > pfit.promptTokens else {
            throw SchemeError("pfit: the node's text holds \(ownText.count) tokens, fewer than a prompt of \(pfit.promptTokens) needs")
        }
        guard pfit.promptTokens + pfit.completionTokens <= model.config.maxSequenceLength else {
            throw SchemeError("pfit: prompt_tokens + completion_tokens (\(pfit.promptTokens + pfit.completionTokens)) exceed the model's context of \(model.config.maxSequenceLength)")
        }
        self.ownText = ownText
        self.tokenizer = tokenizer
        self.seed = seed
        trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: Float(pfit.learningRate), totalSteps: 1, warmupFraction: 0,
                                                                       floor: Float(pfit.learningRate)))
        for name in pfit.rewards.components {
            switch name {
            case ArithmeticReward.rewardName: rewards[name] = ArithmeticReward()
            case FluencyReward.rewardName: rewards[name] = FluencyReward(model: model)
            case LengthReward.rewardName: rewards[name] = LengthReward(band: pfit.lengthBand)
            default:
                // Style: windows of 64 tokens of each text, at most 64 of each.
                func windows(_ ids: [Int32]) -> [String] {
                    stride(from: 0, to: max(1, ids.count - 16), by: 64).prefix(64).map { tokenizer.decode(Array(ids[$0..<min(ids.count, $0 + 64)])) }
                }
                let reference = referenceText.isEmpty ? [] : windows(referenceText)
                guard !reference.isEmpty else { throw SchemeError("pfit: the style reward needs reference text") }
                rewards[name] = StyleReward(own: windows(ownText), reference: reference)
            }
        }
    }

    public func beginRound(round: Int, model: TransformerModel) throws {
        guard round > settings.warmupRounds else {
            roundFigures = nil
            return
        }
        guard let trainer else { throw SchemeError("pfit: the node's text was never attached") }
        try model.setTrainable([.slot(Self.policySlot)])
        model.activeSlots = [Self.policySlot]
        let reference = try model.adapter(named: Self.policySlot)
        let objective = PolicyObjective(clip: pfit.clip, beta: pfit.beta)
        var totals: [String: Double] = [:]
        var kl = 0.0, samples = 0, loss = 0.0
        let start = DispatchTime.now().uptimeNanoseconds
        for step in 0..<settings.localSteps {
            var random = SeededRandom(seed: seed ^ UInt64(round) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(step + 1) &* 0xC2B2_AE3D_27D4_EB4F)
            let prompt = drawPrompt(using: &random)
            let seeds = (0..<pfit.group).map { _ in random.next() }
            let (scored, scores) = sampleAndScore(prompt: prompt, seeds: seeds)
            let mixed = pfit.rewards.combine(scores)
            let advantages = PolicyGradient.groupAdvantages(mixed, normalized: pfit.normalizeAdvantages)
            let sequences = scored.map { prompt + $0.completion }
            let referenceLogps = try model.withAdapter(reference, named: Self.policySlot) {
                model.completionLogProbabilities(sequences, promptLength: prompt.count)
            }
            let old = pfit.updatesPerGroup > 1 ? model.completionLogProbabilities(sequences, promptLength: prompt.count) : nil
            let group = sequences.indices.map {
                PolicySample(tokens: sequences[$0], promptLength: prompt.count, advantage: advantages[$0],
                             referenceLogProbabilities: referenceLogps[$0], oldLogProbabilities: old?[$0])
            }
            var last = PolicyLoss(loss: 0, kl: 0)
            for _ in 0..<pfit.updatesPerGroup {
                trainer.trainStep(accumulate: {
                    last = model.policyLoss(group, objective: objective, accumulate: true)
                    return Float(last.loss)
                })
            }
            for (name, values) in scores { totals[name, default: 0] += values.reduce(0, +) }
            totals["mixture", default: 0] += mixed.reduce(0, +)
            kl += last.kl
            loss += last.loss
            samples += pfit.group
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        var figures = totals.mapValues { $0 / Double(max(1, samples)) }
        figures["kl"] = kl / Double(max(1, settings.localSteps))
        figures["policy_loss"] = loss / Double(max(1, settings.localSteps))
        figures["policy_steps"] = Double(settings.localSteps * pfit.updatesPerGroup)
        figures["samples_per_second"] = Double(samples) / max(seconds, 1e-9)
        roundFigures = figures
    }

    /// The node's mean mixture reward (and each component's) on `pfit.evaluation_prompts`
    /// fixed prompts, G samples each, with the policy as it is now.
    public func evaluate() -> [String: Double] {
        guard let model else { return [:] }
        let saved = model.activeSlots
        model.activeSlots = [Self.policySlot]
        defer { model.activeSlots = saved }
        var totals: [String: Double] = [:], count = 0
        for k in 0..<pfit.evaluationPrompts {
            var random = SeededRandom(seed: seed ^ 0x4576_616C ^ UInt64(k + 1) &* 0x9E37_79B9_7F4A_7C15)  // "Eval"
            let prompt = drawPrompt(using: &random)
            let (_, scores) = sampleAndScore(prompt: prompt, seeds: (0..<pfit.group).map { _ in random.next() })
            for (name, values) in scores { totals[name, default: 0] += values.reduce(0, +) }
            totals["mixture", default: 0] += pfit.rewards.combine(scores).reduce(0, +)
            count += pfit.group
        }
        return totals.mapValues { $0 / Double(max(1, count)) }
    }

    /// An arithmetic question with probability α_arithmetic / Σα, else a window of the node's own text.
    func drawPrompt(using random: inout SeededRandom) -> [Int32] {
        let weights = pfit.rewards.weights, total = weights.values.reduce(0, +)
        let arithmetic = (weights[ArithmeticReward.rewardName] ?? 0) / total
        if let tokenizer, random.nextUnit() < arithmetic {
            return tokenizer.encode(ArithmeticReward.question(using: &random))
        }
        let start = Int(random.next() % UInt64(ownText.count - pfit.promptTokens))
        return Array(ownText[start..<(start + pfit.promptTokens)])
    }

    /// G completions of `prompt` through the KV cache and every component's scores.
    func sampleAndScore(prompt: [Int32], seeds: [UInt64]) -> ([RewardSample], [String: [Double]]) {
        guard let model, let tokenizer else { return ([], [:]) }
        let generator = TextGenerator(model: model, temperature: Float(pfit.temperature))
        let completions = generator.continuations(of: prompt, count: pfit.completionTokens, seeds: seeds)
        let promptText = tokenizer.decode(prompt)
        let samples = completions.map {
            RewardSample(prompt: prompt, completion: $0, promptText: promptText, completionText: tokenizer.decode($0))
        }
        var scores: [String: [Double]] = [:]
        for (name, reward) in rewards { scores[name] = reward.scores(samples) }
        return (samples, scores)
    }

    /// Takes the aggregated policy in, then scores the served policy on the fixed
    /// evaluation prompts (`eval_*` in the round's figures): what the node's own mixture
    /// gets from the model it now holds.
    public func takeIn(aggregate: LoRAAdapter, model: TransformerModel, round: Int) throws {
        try model.setAdapter(aggregate, named: Self.policySlot)
        guard var figures = roundFigures else { return }
        for (name, value) in evaluate() { figures["eval_" + name] = value }
        roundFigures = figures
    }

    public var state: [NamedTensor] { [] }

    public func restore(state: [NamedTensor]) throws {}
}
