// Trainer: one optimisation step = accumulate micro-batches, clip, AdamW, schedule.

/// What one training step did.
public struct TrainingStepResult: Sendable, Equatable {
    /// Mean of the micro-batches' mean losses.
    public var loss: Float
    /// Global gradient norm before clipping.
    public var gradientNorm: Float
    /// Learning rate the step used.
    public var learningRate: Float
}

/// Scales every trainable gradient of `model` so that their global norm is at most
/// `maxNorm`, and returns the norm before scaling.
@discardableResult
public func clipGradients(of model: GPT2Model, maxNorm: Float) -> Float {
    let norm = model.gradientNorm()
    if norm > maxNorm, norm > 0 {
        let scale = maxNorm / norm
        let g = model.trainableGradients.pointer
        Parallel.forRanges(model.trainableGradients.count, costPerItem: 1) { range in
            for i in range { g[i] *= scale }
        }
    }
    return norm
}

/// Trains a model's trainable parameters (its adapter, or its whole base in `.full`
/// mode) with AdamW under a learning-rate schedule.
public final class Trainer {
    public let model: GPT2Model
    public let optimizer: AdamW
    public var schedule: LearningRateSchedule
    /// Clip the global gradient norm to this value; nil disables clipping.
    public var maxGradientNorm: Float?
    /// Steps taken so far; the schedule is read at this index.
    public private(set) var step = 0

    public init(model: GPT2Model, schedule: LearningRateSchedule, weightDecay: Float = 1e-3,
                beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8, maxGradientNorm: Float? = 1) {
        self.model = model
        self.schedule = schedule
        self.maxGradientNorm = maxGradientNorm
        optimizer = AdamW(parameterCount: model.trainableParameterCount, beta1: beta1, beta2: beta2,
                          epsilon: epsilon, weightDecay: weightDecay)
    }

    /// Continues the schedule from step `step` (a restored state).
    func restoreStep(_ step: Int) { self.step = step }

    /// Accumulates the gradients of every micro-batch (each weighted 1/k, so k
    /// micro-batches of size b step like one batch of k·b), clips, and takes one AdamW step.
    @discardableResult
    public func trainStep(_ microBatches: [TokenBatch]) -> TrainingStepResult {
        precondition(!microBatches.isEmpty, "a training step needs at least one micro-batch")
        model.zeroGradients()
        var lossSum: Float = 0
        let scale = 1 / Float(microBatches.count)
        for batch in microBatches {
            lossSum += model.forward(inputs: batch.inputs, targets: batch.targets, batchSize: batch.batchSize,
                                     sequenceLength: batch.sequenceLength, training: true)!
            model.backward(lossScale: scale)
        }
        let norm = maxGradientNorm.map { clipGradients(of: model, maxNorm: $0) } ?? model.gradientNorm()
        let learningRate = schedule.learningRate(at: step)
        optimizer.step(parameters: model.trainableValues.pointer, gradients: model.trainableGradients.pointer, learningRate: learningRate)
        step += 1
        return TrainingStepResult(loss: lossSum * scale, gradientNorm: norm, learningRate: learningRate)
    }
}
