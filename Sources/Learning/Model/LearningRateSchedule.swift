// LearningRateSchedule: one cycle of linear warm-up, then cosine decay to a floor.

import Foundation

/// The learning rate of each step: it rises linearly from peak/warmupSteps to `peak`
/// over the first `warmupSteps` steps, then falls along a half cosine to `floor` at
/// step `totalSteps`, and stays there.
public struct LearningRateSchedule: Sendable, Equatable, Codable {
    public var peak: Float
    public var floor: Float
    public var totalSteps: Int
    public var warmupSteps: Int

    /// - Parameters:
    ///   - warmupFraction: share of `totalSteps` spent warming up (the paper: 2 %).
    public init(peak: Float, totalSteps: Int, warmupFraction: Double = 0.02, floor: Float = 0) {
        precondition(totalSteps > 0 && warmupFraction >= 0 && warmupFraction <= 1, "a schedule needs steps and a warm-up fraction in [0, 1]")
        self.peak = peak
        self.floor = floor
        self.totalSteps = totalSteps
        self.warmupSteps = Int((Double(totalSteps) * warmupFraction).rounded())
    }

    /// The rate of step `step`, counted from 0.
    public func learningRate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let decaySteps = totalSteps - warmupSteps
        guard decaySteps > 0 else { return peak }
        let progress = min(1, Double(step - warmupSteps) / Double(decaySteps))
        return floor + (peak - floor) * Float(0.5 * (1 + cos(Double.pi * progress)))
    }
}
