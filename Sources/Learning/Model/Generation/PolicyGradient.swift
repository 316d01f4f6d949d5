// PolicyGradient: the critic-free policy-gradient objective of GRPO (arXiv 2402.03300)
// over a group of sampled completions, with a KL penalty to a reference policy.
//
// For a group of G completions y_i of one prompt with rewards r_i:
//     A_i = r_i − mean(r)                      (divided by std(r) + ε when asked, as GRPO)
//     L   = (1/G) Σ_i (1/|y_i|) Σ_t [ −s_{i,t} + β · k3_{i,t} ]
// with l = log π(y_t | y_<t) under the policy being trained, l_old the same under the
// policy that sampled, l_ref under the reference, ρ = exp(l − l_old), and
//     s = ρ · A                                    (plain policy gradient)
//     s = A · l                                    (on-policy, no l_old: REINFORCE, the same
//                                                   gradient as ρ A at ρ = 1)
//     s = min(ρ A, clip(ρ, 1 − ε, 1 + ε) A)        (clipped, as PPO and GRPO)
//     k3 = exp(l_ref − l) − (l_ref − l) − 1        (Schulman's unbiased, positive estimator
//                                                   of KL(π ‖ π_ref) from samples of π)
// Every term depends on θ only through the completion's own token log-probabilities,
// so the gradient is Σ_t (∂L/∂l_t) ∇l_t: one backward of the cross-entropy with each
// row weighted by −∂L/∂l_t (`TransformerModel.backward(rowWeights:)`).

import Foundation

/// The advantage and KL terms of the objective.
public enum PolicyGradient {
    /// Advantages r_i − mean(r) of one group; divided by the group's standard deviation
    /// (population, over the G rewards) plus `epsilon` when `normalized`. A group whose
    /// rewards are all equal gets zeros either way.
    public static func groupAdvantages(_ rewards: [Double], normalized: Bool, epsilon: Double = 1e-4) -> [Double] {
        precondition(!rewards.isEmpty, "a group needs at least one reward")
        let mean = rewards.reduce(0, +) / Double(rewards.count)
        let centred = rewards.map { $0 - mean }
        guard normalized else { return centred }
        let std = (centred.reduce(0) { $0 + $1 * $1 } / Double(rewards.count)).squareRoot()
        return centred.map { $0 / (std + epsilon) }
    }

    /// k3 = exp(l_ref − l) − (l_ref − l) − 1, the per-token estimate of KL(π ‖ π_ref)
    /// at a token drawn from π with log-probabilities l (policy) and l_ref (reference).
    public static func k3(logProbability l: Double, reference: Double) -> Double {
        let d = reference - l
        return exp(d) - d - 1
    }

    /// ∂k3/∂l = 1 − exp(l_ref − l).
    public static func k3Derivative(logProbability l: Double, reference: Double) -> Double { 1 - exp(reference - l) }
}

/// How a policy step weighs its tokens.
public struct PolicyObjective: Sendable, Equatable {
    /// The clip range ε of the ratio; nil for the plain policy gradient.
    public var clip: Double?
    /// The weight β of the KL penalty.
    public var beta: Double

    public init(clip: Double? = nil, beta: Double) {
        precondition(clip.map { $0 > 0 && $0 < 1 } ?? true, "the clip range must be in (0, 1)")
        precondition(beta >= 0, "the KL weight must not be negative")
        self.clip = clip
        self.beta = beta
    }

    /// The surrogate s of one token and ∂s/∂l, given ρ = exp(l − l_old) and the advantage.
    func surrogate(ratio ρ: Double, advantage A: Double) -> (value: Double, derivative: Double) {
        guard let clip else { return (ρ * A, ρ * A) }
        let clipped = min(max(ρ, 1 - clip), 1 + clip)
        // The unclipped branch is the minimum (ties included): its derivative is ρ A;
        // the clipped one is constant in θ.
        return ρ * A <= clipped * A ? (ρ * A, ρ * A) : (clipped * A, 0)
    }
}

/// One sampled completion of a group: the whole sequence (prompt then completion) and
/// the per-token values the objective needs for each completion token.
public struct PolicySample: Sendable, Equatable {
    /// Prompt and completion ids.
    public var tokens: [Int32]
    /// Where the completion starts in `tokens` (at least 1).
    public var promptLength: Int
    public var advantage: Double
    /// log π_ref of each completion token.
    public var referenceLogProbabilities: [Double]
    /// log π_old of each completion token (the sampling policy); nil: the current
    /// policy itself, so ρ = 1.
    public var oldLogProbabilities: [Double]?

    public init(tokens: [Int32], promptLength: Int, advantage: Double, referenceLogProbabilities: [Double],
                oldLogProbabilities: [Double]? = nil) {
        precondition(promptLength >= 1 && promptLength < tokens.count, "a sample needs a prompt and a completion")
        precondition(referenceLogProbabilities.count == tokens.count - promptLength, "one reference log-probability per completion token")
        self.tokens = tokens
        self.promptLength = promptLength
        self.advantage = advantage
        self.referenceLogProbabilities = referenceLogProbabilities
        self.oldLogProbabilities = oldLogProbabilities
    }
}

/// What one evaluation of the objective found.
public struct PolicyLoss: Sendable, Equatable {
    /// L, as above.
    public var loss: Double
    /// The mean k3 over every completion token: the KL estimate to the reference.
    public var kl: Double

    public init(loss: Double, kl: Double) {
        self.loss = loss
        self.kl = kl
    }
}

extension TransformerModel {
    /// log π(y_t | y_<t) of every completion token of `sequences` (equal lengths, each
    /// with its completion starting at `promptLength`), under the model as it is set up
    /// now; forward-only in effect (no dropout), one batch.
    public func completionLogProbabilities(_ sequences: [[Int32]], promptLength: Int) -> [[Double]] {
        let (inputs, targets, T) = completionBatch(sequences, promptLength: promptLength)
        forward(inputs: inputs, targets: targets, batchSize: sequences.count, sequenceLength: T, training: false)
        return completionRows(sequences.count, T: T, promptLength: promptLength)
    }

    /// Evaluates the objective on `group` (equal lengths and prompt length) and, when
    /// `accumulate`, adds lossScale · ∇L into the trainable gradients.
    @discardableResult
    public func policyLoss(_ group: [PolicySample], objective: PolicyObjective, lossScale: Double = 1, accumulate: Bool) -> PolicyLoss {
        precondition(!group.isEmpty, "a policy step needs at least one sample")
        let P = group[0].promptLength
        precondition(group.allSatisfy { $0.promptLength == P && $0.tokens.count == group[0].tokens.count },
                     "the samples of a group share their prompt and completion lengths")
        let (inputs, targets, T) = completionBatch(group.map(\.tokens), promptLength: P)
        let G = group.count
        forward(inputs: inputs, targets: targets, batchSize: G, sequenceLength: T, training: false)
        let logps = completionRows(G, T: T, promptLength: P)
        var loss = 0.0, kl = 0.0, tokenCount = 0
        var weights = [Float](repeating: 0, count: G * T)
        for (i, sample) in group.enumerated() {
            let n = logps[i].count, perToken = 1 / (Double(G) * Double(n))
            for t in 0..<n {
                let l = logps[i][t], ref = sample.referenceLogProbabilities[t]
                // On-policy (no old values) the surrogate is A · l, REINFORCE: its gradient
                // is that of ρ A at ρ = 1, and its value moves with θ as the gradient says.
                let (s, ds) = sample.oldLogProbabilities.map {
                    objective.surrogate(ratio: exp(l - $0[t]), advantage: sample.advantage)
                } ?? (sample.advantage * l, sample.advantage)
                let k = PolicyGradient.k3(logProbability: l, reference: ref)
                loss += perToken * (-s + objective.beta * k)
                kl += k
                tokenCount += 1
                // ∂L/∂l; the cross-entropy row is −l, so its weight is −∂L/∂l.
                let dl = perToken * (-ds + objective.beta * PolicyGradient.k3Derivative(logProbability: l, reference: ref))
                weights[i * T + P - 1 + t] = Float(-dl)
            }
        }
        if accumulate { backward(lossScale: Float(lossScale), rowWeights: weights) }
        return PolicyLoss(loss: loss, kl: kl / Double(max(1, tokenCount)))
    }

    /// Inputs (G,T) and targets (G,T) of equal-length sequences, T = length − 1, the
    /// targets −1 on the prompt so only completion tokens count.
    private func completionBatch(_ sequences: [[Int32]], promptLength P: Int) -> ([Int32], [Int32], Int) {
        let T = sequences[0].count - 1
        precondition(sequences.allSatisfy { $0.count == T + 1 }, "the sequences must have equal lengths")
        precondition(P >= 1 && P <= T, "the completion must start after the first token and hold at least one")
        var inputs: [Int32] = [], targets: [Int32] = []
        for s in sequences {
            inputs += s[0..<T]
            targets += (1...T).map { $0 >= P ? s[$0] : -1 }
        }
        return (inputs, targets, T)
    }

    /// −loss of every target row of the last forward, per sequence.
    private func completionRows(_ G: Int, T: Int, promptLength P: Int) -> [[Double]] {
        guard let acts = activations else { preconditionFailure("no forward to read") }
        let losses = acts[acts.losses]
        return (0..<G).map { b in ((P - 1)..<T).map { -Double(losses[b * T + $0]) } }
    }
}
