// EmulatorAlignment: FedBiOT's alignment of the emulator to the full model on public
// text (arXiv 2406.17706, the server's step), with the emulator's kept middle blocks
// the only parameters that move:
//
//   loss = NMSE(h_emu, h_full) + λ · (1/N) Σ_n KL(p_full,n ‖ p_emu,n)
//
// h_full (N,C) is the output of the full model's last middle block, h_emu that of the
// emulator's (the formula always keeps the last middle block, so both feed the same
// first upper adapter block); p_full and p_emu are the next-token distributions of the
// full model and of the emulator, both with the same adapter applied (the adapter
// blocks and their LoRA are shared, so the lower ones of offsite feed both middles
// the same input). NMSE is NormalisedMSE.swift's, per position relative to ‖h_full‖².

/// The two parts of the alignment loss and their sum.
public struct AlignmentLoss: Sendable, Equatable {
    /// NMSE between the emulator's and the full model's middle outputs.
    public var hidden: Float
    /// Mean KL(full ‖ emulator) per position.
    public var distribution: Float
    /// hidden + λ · distribution.
    public var total: Float
}

/// Aligns an emulator to the full model it was cut from.
public final class EmulatorAlignment {
    public let full: TransformerModel
    public let emulator: TransformerModel
    public let plan: EmulatorPlan
    /// λ, the weight of the KL term.
    public let lambda: Float
    let trainer: Trainer

    /// - Parameters:
    ///   - full: the full model (`config.blocks` 0 ..< plan.fullLayers).
    ///   - emulator: the emulator of `plan` (its blocks the plan's emulator blocks).
    ///   - learningRate: the AdamW step of the emulator's blocks (constant).
    /// - Throws: `EmulatorError` when the models do not match the plan.
    public init(full: TransformerModel, emulator: TransformerModel, plan: EmulatorPlan, lambda: Float, learningRate: Float) throws(EmulatorError) {
        guard full.config.blocks == Array(0..<plan.fullLayers) else {
            throw EmulatorError("the full model has blocks \(full.config.blocks), the plan \(plan.fullLayers) blocks")
        }
        guard emulator.config.blocks == plan.emulatorBlocks else {
            throw EmulatorError("the emulator has blocks \(emulator.config.blocks), the plan keeps \(plan.emulatorBlocks)")
        }
        guard lambda >= 0, lambda.isFinite else { throw EmulatorError("lambda must be at least 0 (got \(lambda))") }
        self.full = full
        self.emulator = emulator
        self.plan = plan
        self.lambda = lambda
        trainer = Trainer(model: emulator, schedule: LearningRateSchedule(peak: learningRate, totalSteps: 1, warmupFraction: 0, floor: learningRate),
                          weightDecay: 0)
    }

    /// Position, in each model, of the block whose output is the middle's.
    var fullMiddleOutput: Int { plan.middleBlocks[plan.middleBlocks.count - 1] }
    var emulatorMiddleOutput: Int { emulator.config.blocks.firstIndex(of: plan.keptBlocks[plan.keptBlocks.count - 1])! }

    /// The full model's middle output (N,C) and next-token distribution (N,V) on `batch`.
    func teacher(_ batch: TokenBatch) -> (hidden: [Float], probabilities: [Float]) {
        full.forward(inputs: batch.inputs, targets: nil, batchSize: batch.batchSize, sequenceLength: batch.sequenceLength, training: false)
        let acts = full.activations!, N = batch.batchSize * batch.sequenceLength
        let C = full.config.channels, V = full.config.vocabularySize
        let hidden = Array(UnsafeBufferPointer(start: acts[acts.blocks[fullMiddleOutput].residual3], count: N * C))
        var probabilities = [Float](repeating: 0, count: N * V)
        probabilities.withUnsafeMutableBufferPointer { softmaxForward(probabilities: $0.baseAddress!, logits: acts[acts.logits], N: N, V: V) }
        return (hidden, probabilities)
    }

    /// The emulator's forward on `batch` and its loss against the teacher's outputs;
    /// with `lossScale`, the gradient of lossScale · total into the trainable groups.
    func emulatorLoss(_ batch: TokenBatch, lossScale: Float?) -> AlignmentLoss {
        let (hidden, probabilities) = teacher(batch)
        emulator.forward(inputs: batch.inputs, targets: nil, batchSize: batch.batchSize, sequenceLength: batch.sequenceLength, training: false)
        let acts = emulator.activations!, N = batch.batchSize * batch.sequenceLength
        let C = emulator.config.channels, V = emulator.config.vocabularySize
        let middle = acts[acts.blocks[emulatorMiddleOutput].residual3]
        var inverseNorms = [Float](repeating: 0, count: N)
        let nmse = hidden.withUnsafeBufferPointer { h in
            inverseNorms.withUnsafeMutableBufferPointer { normalisedMSEForward(inverseNorms: $0.baseAddress!, prediction: middle, target: h.baseAddress!, N: N, C: C) }
        }
        let losses = acts[acts.losses], logsumexp = acts[acts.logsumexp]
        probabilities.withUnsafeBufferPointer { p in
            klDivergenceForward(losses: losses, logsumexp: logsumexp, logits: acts[acts.logits], targets: p.baseAddress!, N: N, V: V)
        }
        var klSum: Double = 0
        for n in 0..<N { klSum += Double(losses[n]) }
        let kl = Float(klSum / Double(N))
        if let lossScale {
            emulator.backpropagate(
                logitsGradient: { dLogits in
                    probabilities.withUnsafeBufferPointer { p in
                        klDivergenceBackward(dlogits: dLogits, logits: dLogits, logsumexp: logsumexp, targets: p.baseAddress!,
                                             dloss: lossScale * lambda / Float(N), N: N, V: V)
                    }
                },
                streamGradient: (layer: emulatorMiddleOutput, add: { dStream in
                    hidden.withUnsafeBufferPointer { h in
                        inverseNorms.withUnsafeBufferPointer { inv in
                            normalisedMSEBackward(da: dStream, prediction: middle, target: h.baseAddress!, inverseNorms: inv.baseAddress!,
                                                  dloss: lossScale, N: N, C: C)
                        }
                    }
                }))
        }
        return AlignmentLoss(hidden: nmse, distribution: kl, total: nmse + lambda * kl)
    }

    /// The mean alignment loss over `batches`, nothing trained.
    public func evaluate(_ batches: [TokenBatch]) -> AlignmentLoss {
        var hidden: Double = 0, distribution: Double = 0
        for batch in batches {
            let loss = emulatorLoss(batch, lossScale: nil)
            hidden += Double(loss.hidden)
            distribution += Double(loss.distribution)
        }
        let k = Double(max(1, batches.count))
        return AlignmentLoss(hidden: Float(hidden / k), distribution: Float(distribution / k),
                             total: Float(hidden / k) + lambda * Float(distribution / k))
    }

    /// One AdamW step of the emulator's kept middle blocks on the mean loss of
    /// `microBatches`; the emulator's trainable groups are put back afterwards.
    @discardableResult
    public func step(_ microBatches: [TokenBatch]) throws -> AlignmentLoss {
        precondition(!microBatches.isEmpty, "an alignment step needs at least one micro-batch")
        let previous = emulator.trainableGroups
        try emulator.setTrainable([.baseBlocks(plan.keptBlocks)])
        defer { try? emulator.setTrainable(previous) }
        let scale = 1 / Float(microBatches.count)
        var hidden: Float = 0, distribution: Float = 0
        trainer.trainStep {
            for batch in microBatches {
                let loss = emulatorLoss(batch, lossScale: scale)
                hidden += loss.hidden * scale
                distribution += loss.distribution * scale
            }
            return hidden + lambda * distribution
        }
        return AlignmentLoss(hidden: hidden, distribution: distribution, total: hidden + lambda * distribution)
    }
}
