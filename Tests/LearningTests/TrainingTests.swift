// AdamW, the learning-rate schedule and gradient clipping against hand-computed values.

import Foundation
import Testing

@testable import Learning

@Suite struct TrainingTests {
    @Test func adamWStepsMatchHandComputation() {
        let optimizer = AdamW(parameterCount: 2, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01)
        var parameters: [Float] = [1, -2]
        // Step 1: m̂ = g and v̂ = g², so the Adam update is g / |g| = 1 for both.
        //   p1 = 1 − 0.1·(1 + 0.01·1) = 0.899;  p2 = −2 − 0.1·(1 + 0.01·(−2)) = −2.098
        optimizer.step(parameters: &parameters, gradients: [0.5, 0.1], learningRate: 0.1)
        #expect(abs(parameters[0] - 0.899) < 1e-6)
        #expect(abs(parameters[1] - (-2.098)) < 1e-6)
        // Step 2, gradients [−0.5, 0]:
        //   m1 = 0.9·0.05 − 0.05 = −0.005, m̂1 = −0.005 / 0.19;  v1 = 0.999·0.00025 + 0.00025 = 0.00049975, v̂1 = 0.00049975 / 0.001999
        //   update1 = (−0.026315789) / (0.5 + 1e-8) = −0.052631578
        //   p1 = 0.899 − 0.1·(−0.052631578 + 0.00899) = 0.903364158
        //   m2 = 0.009, m̂2 = 0.047368421;  v2 = 0.00000999, v̂2 = 0.004997499; update2 = 0.047368421 / 0.070693 = 0.6700582
        //   p2 = −2.098 − 0.1·(0.6700582 − 0.02098) = −2.1629078
        optimizer.step(parameters: &parameters, gradients: [-0.5, 0], learningRate: 0.1)
        #expect(abs(parameters[0] - 0.903364158) < 1e-5)
        #expect(abs(parameters[1] - (-2.1629078)) < 1e-5)
        #expect(optimizer.stepCount == 2)
    }

    @Test func scheduleWarmsUpLinearlyThenDecaysAlongACosineToTheFloor() {
        let schedule = LearningRateSchedule(peak: 1e-3, totalSteps: 100, warmupFraction: 0.1, floor: 1e-4)
        #expect(schedule.warmupSteps == 10)
        #expect(abs(schedule.learningRate(at: 0) - 1e-4) < 1e-9)
        #expect(abs(schedule.learningRate(at: 4) - 5e-4) < 1e-9)
        #expect(schedule.learningRate(at: 9) == 1e-3)  // warm-up ends at the peak
        #expect(schedule.learningRate(at: 10) == 1e-3)
        #expect(abs(schedule.learningRate(at: 55) - 5.5e-4) < 1e-9)  // halfway down the cosine
        #expect(abs(schedule.learningRate(at: 100) - 1e-4) < 1e-9)
        #expect(abs(schedule.learningRate(at: 150) - 1e-4) < 1e-9)
    }

    @Test func clippingScalesGradientsToTheMaximumNorm() {
        let model = TransformerModel(config: checkConfig, lora: LoRAConfig(rank: 2), seed: 1)
        let g = model.slots[0].gradients!
        g.zero()
        g.pointer[0] = 3
        g.pointer[g.count - 1] = 4
        #expect(clipGradients(of: model, maxNorm: 1) == 5)
        #expect(abs(g.pointer[0] - 0.6) < 1e-7 && abs(g.pointer[g.count - 1] - 0.8) < 1e-7)
        #expect(abs(model.gradientNorm() - 1) < 1e-6)
    }

    @Test func clippingLeavesSmallGradientsAlone() {
        let model = TransformerModel(config: checkConfig, lora: LoRAConfig(rank: 2), seed: 1)
        let g = model.slots[0].gradients!
        g.zero()
        g.pointer[1] = 0.3
        g.pointer[2] = 0.4
        #expect(abs(clipGradients(of: model, maxNorm: 1) - 0.5) < 1e-7)
        #expect(g.pointer[1] == 0.3 && g.pointer[2] == 0.4)
    }
}
