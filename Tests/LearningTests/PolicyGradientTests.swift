// The policy-gradient objective: its terms against hand computation, its gradient
// against finite differences.

import Foundation
import Testing

@testable import Learning

@Suite struct PolicyGradientTests {
    @Test func groupAdvantagesAreRewardsLessTheGroupMean() {
        #expect(PolicyGradient.groupAdvantages([1, 2, 3, 6], normalized: false) == [-2, -1, 0, 3])
    }

    @Test func normalisedAdvantagesAreDividedByThePopulationStandardDeviation() {
        // std of [1, 2, 3, 6] = sqrt((4 + 1 + 0 + 9) / 4) = sqrt(3.5)
        let a = PolicyGradient.groupAdvantages([1, 2, 3, 6], normalized: true, epsilon: 0)
        let s = 3.5.squareRoot()
        for (x, y) in zip(a, [-2 / s, -1 / s, 0, 3 / s]) { #expect(abs(x - y) < 1e-12) }
        #expect(PolicyGradient.groupAdvantages([4, 4, 4], normalized: true) == [0, 0, 0])
    }

    @Test func k3IsTheUnbiasedPositiveKLEstimator() {
        // π = 0.5, π_ref = 0.25: d = log(0.25/0.5); k3 = 0.5 − log 0.5 − 1 = log 2 − 0.5.
        let k = PolicyGradient.k3(logProbability: log(0.5), reference: log(0.25))
        #expect(abs(k - (log(2) - 0.5)) < 1e-12)
        #expect(PolicyGradient.k3(logProbability: -1.3, reference: -1.3) == 0)
        #expect(PolicyGradient.k3(logProbability: -3, reference: -0.1) > 0)
        // ∂k3/∂l = 1 − π_ref/π = 1 − 0.5
        #expect(abs(PolicyGradient.k3Derivative(logProbability: log(0.5), reference: log(0.25)) - 0.5) < 1e-12)
    }

    @Test func theClippedSurrogateTakesThePessimisticBranch() {
        let objective = PolicyObjective(clip: 0.2, beta: 0)
        // A > 0, ρ past 1 + ε: clipped to 1.2, constant in θ.
        #expect(objective.surrogate(ratio: 1.5, advantage: 1) == (1.2, 0))
        // A < 0, ρ past 1 + ε: ρ A = −1.5 is the smaller, its gradient flows.
        #expect(objective.surrogate(ratio: 1.5, advantage: -1) == (-1.5, -1.5))
        // Inside the range the two agree.
        #expect(objective.surrogate(ratio: 0.9, advantage: 2) == (1.8, 1.8))
        #expect(PolicyObjective(beta: 0).surrogate(ratio: 1.5, advantage: 1) == (1.5, 1.5))
    }

    /// A group of three completions of one prompt on `checkConfig`'s model with random
    /// LoRA values; reference and old log-probabilities from two other adapters.
    private func group(_ model: TransformerModel, clipped: Bool) throws -> [PolicySample] {
        let prompt = tokens(3, vocabulary: checkConfig.vocabularySize, seed: 40)
        let sequences = (0..<3).map { prompt + tokens(4, vocabulary: checkConfig.vocabularySize, seed: 41 + UInt64($0)) }
        let own = try model.adapter(named: TransformerModel.defaultSlot)
        let reference = try model.withAdapter(randomized(own, seed: 70), named: TransformerModel.defaultSlot) {
            model.completionLogProbabilities(sequences, promptLength: 3)
        }
        let old = try model.withAdapter(randomized(own, seed: 80), named: TransformerModel.defaultSlot) {
            model.completionLogProbabilities(sequences, promptLength: 3)
        }
        let advantages = [0.8, -1.1, 0.3]
        return (0..<3).map {
            PolicySample(tokens: sequences[$0], promptLength: 3, advantage: advantages[$0], referenceLogProbabilities: reference[$0],
                         oldLogProbabilities: clipped ? old[$0] : nil)
        }
    }

    @Test(arguments: [false, true])
    func theLossGradientMatchesFiniteDifferences(clipped: Bool) throws {
        let model = TransformerModel(config: checkConfig, lora: LoRAConfig(rank: 2), seed: 3)
        try model.setAdapter(randomized(model.adapter(), seed: 4))
        let samples = try group(model, clipped: clipped)
        let objective = PolicyObjective(clip: clipped ? 0.2 : nil, beta: 0.3)
        model.zeroGradients()
        let evaluated = model.policyLoss(samples, objective: objective, accumulate: true)
        #expect(evaluated.kl > 0)
        let segment = model.groupSegments(.slot(TransformerModel.defaultSlot))[0]
        let analytic = (0..<segment.count).map { Double(segment.gradients[$0]) }
        #expect(analytic.contains { abs($0) > 1e-4 }, "the gradient is not all zero")
        let h: Float = 3e-3
        var worst = 0.0
        for i in stride(from: 0, to: segment.count, by: max(1, segment.count / 40)) {
            let saved = segment.values[i]
            segment.values[i] = saved + h
            let up = model.policyLoss(samples, objective: objective, accumulate: false).loss
            segment.values[i] = saved - h
            let down = model.policyLoss(samples, objective: objective, accumulate: false).loss
            segment.values[i] = saved
            let numeric = (up - down) / (2 * Double(h))
            worst = max(worst, abs(numeric - analytic[i]) / max(1e-2, abs(numeric) + abs(analytic[i])))
        }
        #expect(worst < 2e-2, "largest relative gradient error \(worst)")
    }

    @Test func onPolicyWithoutAdvantageOrPenaltyThereIsNoGradient() throws {
        let model = TransformerModel(config: checkConfig, lora: LoRAConfig(rank: 2), seed: 3)
        try model.setAdapter(randomized(model.adapter(), seed: 4))
        let prompt = tokens(3, vocabulary: checkConfig.vocabularySize, seed: 40)
        let sequence = prompt + tokens(4, vocabulary: checkConfig.vocabularySize, seed: 41)
        let own = model.completionLogProbabilities([sequence], promptLength: 3)[0]
        // Reference = the policy itself: k3 = 0 and its derivative 0; advantage 0.
        let sample = PolicySample(tokens: sequence, promptLength: 3, advantage: 0, referenceLogProbabilities: own)
        model.zeroGradients()
        let result = model.policyLoss([sample], objective: PolicyObjective(beta: 1), accumulate: true)
        #expect(abs(result.kl) < 1e-12)
        #expect(model.gradientNorm() < 1e-6)
    }
}
