// TrainingLoop: the one loop every training run goes through — `pretrain`, `finetune`,
// a cluster's shared base and every node's local steps: draw a batch, step, report.

/// Runs up to `steps` steps of `trainer` on batches from `sampler`, asking `shouldStop`
/// before each step and telling `afterStep` the step's number (1-based) and result.
/// Returns the mean loss of the steps taken (NaN when none) and their count.
@discardableResult
public func runTraining(
    _ trainer: Trainer, sampler: inout BatchSampler, steps: Int, shouldStop: () -> Bool = { false },
    afterStep: (Int, TrainingStepResult) throws -> Void = { _, _ in }
) rethrows -> (meanLoss: Double, steps: Int) {
    var total = 0.0
    var done = 0
    while done < steps && !shouldStop() {
        let result = trainer.trainStep([sampler.next()])
        total += Double(result.loss)
        done += 1
        try afterStep(done, result)
    }
    return (done > 0 ? total / Double(done) : .nan, done)
}
