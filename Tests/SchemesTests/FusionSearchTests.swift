import Foundation
import Learning
import Testing

@testable import Schemes

/// Batches of a repeating pattern with noise: text a LoRA slot can learn in a few steps.
private func patternBatches(seed: UInt64, period: Int, count: Int, batchSize: Int = 2, sequenceLength: Int = 16) -> [TokenBatch] {
    var random = SeededRandom(seed: seed)
    return (0..<count).map { _ in
        var tokens: [Int32] = []
        let offset = Int(random.next() % UInt64(period))
        for i in 0..<(batchSize * sequenceLength + 1) {
            let noisy = random.nextUnit() < 0.1
            tokens.append(noisy ? Int32(random.next() % 256) : Int32(40 + (i + offset) % period * 7))
        }
        var inputs: [Int32] = [], targets: [Int32] = []
        for b in 0..<batchSize {
            let row = Array(tokens[(b * sequenceLength)..<(b * sequenceLength + sequenceLength + 1)])
            inputs += row.dropLast()
            targets += row.dropFirst()
        }
        return TokenBatch(inputs: inputs, targets: targets, batchSize: batchSize, sequenceLength: sequenceLength)
    }
}

@Suite struct FusionSearchTests {
    static let start: [[Double]] = [[1, 0], [0, 1], [1, 1]]

    /// Records every point the search asks for.
    final class Trace {
        var points: [[Double]] = []
    }

    @Test(arguments: [
        // An optimum inside the box, a tilted one, one on an edge, one in a corner.
        ([0.4, -0.7], [0.4, -0.7], 0.0),
        ([-1.1, 0.9], [-1.1, 0.9], 0.8),
        ([2.5, 0.3], [1.5, 0.3], 0.0),
        ([-3.0, 4.0], [-1.5, 1.5], 0.0),
    ])
    func onAConvexFunctionTheSearchReachesTheBoxOptimumWithinItsBudget(centre: [Double], optimum: [Double], coupling: Double) {
        // f(w) = (w1 − c1)² + 2 (w2 − c2)² + coupling · (w1 − c1)(w2 − c2), convex for |coupling| < 2√2.
        func f(_ w: [Double]) -> Double {
            let a = w[0] - centre[0], b = w[1] - centre[1]
            return a * a + 2 * b * b + coupling * a * b
        }
        let trace = Trace()
        let result = FusionSearch.minimise(start: Self.start, budget: 40) { w in
            trace.points.append(w)
            return f(w)
        }
        #expect(result.evaluations <= 40)
        #expect(trace.points.count == result.evaluations)
        #expect(trace.points.allSatisfy { $0.allSatisfy { abs($0) <= 1.5 } }, "a point outside the box was evaluated")
        #expect(abs(result.weights[0] - optimum[0]) < 1e-2 && abs(result.weights[1] - optimum[1]) < 1e-2,
                "ended at \(result.weights), the box optimum is \(optimum)")
        #expect(result.objective - f(optimum) < 1e-4)
    }

    @Test func theBudgetIsNeverExceededEvenWhenTheSearchCouldGoOn() {
        var calls = 0
        let result = FusionSearch.minimise(start: Self.start, budget: 7) { w in
            calls += 1
            return (w[0] - 0.123) * (w[0] - 0.123) + (w[1] + 0.456) * (w[1] + 0.456)
        }
        #expect(calls == 7)
        #expect(result.evaluations == 7)
    }

    @Test func thePenaltyIsHalfTheL1NormTimesLambda() {
        #expect(FusionSearch.objective(loss: 2, weights: [1, -0.5]) == 2 + 0.05 * 1.5 / 2)
    }

    /// A tiny model with a global slot trained on one pattern and a personal slot on
    /// another; the fusion loss on a mixture of both. The search, with 40 loss
    /// evaluations, never evaluates outside the box, improves on its start, and ends
    /// within 5e-3 (0.1 % of the objective) of the minimum over a 0.15 grid of the whole
    /// box (441 evaluations). Near the optimum the loss is flat along the personal
    /// weight and only the penalty slopes (λ/2 = 0.025 per unit), so how close 40
    /// evaluations get depends on the BLAS kernel's rounding of the training before.
    @Test(arguments: [FusionMode.delta, .factor])
    func onARealFusionLossTheSearchReachesTheBoxOptimumWithinItsBudget(mode: FusionMode) throws {
        var settings = SchemeSettings(lora: LoRAConfig(rank: 4, alpha: 32, dropout: 0), localSteps: 1, warmupRounds: 0)
        settings.fusion = mode
        let scheme = FDLoRA(settings: settings)
        let model = try TransformerModel(config: .tiny, slots: scheme.slots, seed: 3)
        let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 3e-2, totalSteps: 60, warmupFraction: 0), weightDecay: 0)
        let globalData = patternBatches(seed: 1, period: 5, count: 30), personalData = patternBatches(seed: 2, period: 3, count: 30)
        for (slot, data) in [(FDLoRA.globalSlot, globalData), (FDLoRA.personalSlot, personalData)] {
            try model.setTrainable([.slot(slot)])
            model.activeSlots = [slot]
            for batch in data { trainer.trainStep([batch]) }
        }
        let fusionBatches = patternBatches(seed: 4, period: 5, count: 1) + patternBatches(seed: 5, period: 3, count: 1)
        func objective(_ w: [Double]) throws -> Double {
            try scheme.apply(weights: w.map(Float.init), to: model)
            return FusionSearch.objective(loss: Double(model.evaluateLoss(batches: fusionBatches)), weights: w)
        }
        var grid: [(w: [Double], value: Double)] = []
        for i in 0...20 {
            for j in 0...20 {
                let w = [-1.5 + 0.15 * Double(i), -1.5 + 0.15 * Double(j)]
                grid.append((w, try objective(w)))
            }
        }
        let gridBest = grid.min { $0.value < $1.value }!
        let startBest = try Self.start.map(objective).min()!
        let trace = Trace()
        let result = try FusionSearch.minimise(start: Self.start, budget: 40) { w in
            trace.points.append(w)
            return try objective(w)
        }
        #expect(result.evaluations <= 40)
        #expect(trace.points.allSatisfy { $0.allSatisfy { abs($0) <= 1.5 } })
        #expect(result.objective < startBest - 1e-3, "start \(startBest) → search \(result.objective)")
        // Measured on a Xeon (SkylakeX kernel): delta 5.2335 (search) vs 5.2320 (grid); factor
        // 5.2347 vs 5.2345. On an EPYC (Cooperlake kernel): factor 5.2394 at (0.01, 0.92) vs
        // 5.2349 at (0, ±0.75), where the penalty is 0.004 lower and the loss nearly the same.
        #expect(result.objective <= gridBest.value + 5e-3,
                "search \(result.weights) → \(result.objective); grid \(gridBest.w) → \(gridBest.value)")
    }
}
