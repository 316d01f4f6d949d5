// Trainer: one optimisation step = accumulate micro-batches, clip, AdamW, schedule.
// Each parameter group keeps its own AdamW moments and bias-correction count, so a
// scheme can train one group in one phase and another in the next.

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
public func clipGradients(of model: TransformerModel, maxNorm: Float) -> Float {
    let norm = model.gradientNorm()
    if norm > maxNorm, norm > 0 {
        let scale = maxNorm / norm
        for group in model.trainableGroups {
            for segment in model.groupSegments(group) {
                let g = segment.gradients
                Parallel.forRanges(segment.count, costPerItem: 1) { range in
                    for i in range { g[i] *= scale }
                }
            }
        }
    }
    return norm
}

/// Trains the model's trainable groups with AdamW under a learning-rate schedule.
public final class Trainer {
    public let model: TransformerModel
    public var schedule: LearningRateSchedule
    /// Clip the global gradient norm to this value; nil disables clipping.
    public var maxGradientNorm: Float?
    /// Steps taken so far; the schedule is read at this index.
    public private(set) var step = 0
    let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    /// AdamW state per group name, made when the group first trains.
    var optimizers: [String: AdamW] = [:]
    /// Adds the gradient of a regulariser (a proximal term) after the loss's own,
    /// before clipping; the step's reported loss stays the data loss.
    public var gradientPenalty: (() -> Void)?

    public init(model: TransformerModel, schedule: LearningRateSchedule, weightDecay: Float = 1e-3,
                beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8, maxGradientNorm: Float? = 1) {
        self.model = model
        self.schedule = schedule
        self.maxGradientNorm = maxGradientNorm
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// The AdamW state of `group`, made on first use.
    func optimizer(for group: ParameterGroup) -> AdamW {
        if let existing = optimizers[group.name] { return existing }
        let count = model.groupSegments(group).reduce(0) { $0 + $1.count }
        let made = AdamW(parameterCount: count, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
        optimizers[group.name] = made
        return made
    }

    /// Continues the schedule from step `step` (a restored state).
    func restoreStep(_ step: Int) { self.step = step }

    /// Accumulates the gradients of every micro-batch (each weighted 1/k, so k
    /// micro-batches of size b step like one batch of k·b), clips, and takes one AdamW
    /// step on every group the model trains.
    @discardableResult
    public func trainStep(_ microBatches: [TokenBatch]) -> TrainingStepResult {
        precondition(!microBatches.isEmpty, "a training step needs at least one micro-batch")
        let scale = 1 / Float(microBatches.count)
        return trainStep {
            var lossSum: Float = 0
            for batch in microBatches {
                lossSum += model.forward(inputs: batch.inputs, targets: batch.targets, batchSize: batch.batchSize,
                                         sequenceLength: batch.sequenceLength, training: true)!
                model.backward(lossScale: scale)
            }
            return lossSum * scale
        }
    }

    /// One step on gradients `accumulate` leaves in the model (zeroed before it
    /// runs), for losses other than cross-entropy; `accumulate` returns the loss.
    @discardableResult
    public func trainStep(accumulate: () -> Float) -> TrainingStepResult {
        model.zeroGradients()
        let loss = accumulate()
        gradientPenalty?()
        let norm = maxGradientNorm.map { clipGradients(of: model, maxNorm: $0) } ?? model.gradientNorm()
        let learningRate = schedule.learningRate(at: step)
        for group in model.trainableGroups {
            optimizer(for: group).step(segments: model.groupSegments(group), learningRate: learningRate)
        }
        step += 1
        return TrainingStepResult(loss: loss, gradientNorm: norm, learningRate: learningRate)
    }
}
