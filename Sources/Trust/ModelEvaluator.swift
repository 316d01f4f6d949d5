// ModelEvaluator: a transformer as the CandidateEvaluator of the model-based strategies.

import Learning

/// Evaluates candidate adapters in one model's buffers, forward only: each call puts the
/// adapter into the model (by default into one LoRA slot, `withAdapter`), runs the
/// forward pass and puts the model's own values back, so k candidates cost k
/// evaluations, no allocation of a model, and the model is left as it was. The base
/// weights and every other slot are shared by every candidate; only the candidate's
/// place differs.
///
/// With a `candidateSlot`, candidates asked for together are scored together: one
/// forward pass per batch runs as many as fit, their copies of the batch stacked along
/// the rows of every base product (`TransformerModel.forEachCandidate`), each put in
/// place to read the slot's values only when its pass runs, so that only that pass's
/// candidates are ever held as slot values beside their adapters.
public final class ModelEvaluator: CandidateEvaluator {
    /// Runs `body` with `adapter` in its place in the model and restores the model after.
    public typealias Swap = (_ adapter: LoRAAdapter, _ body: () throws -> Void) throws -> Void

    public let model: TransformerModel
    /// The node's own trust batches, for `validation`.
    public let trustBatches: [TokenBatch]
    /// The shared reference batches, for `prediction`.
    public let referenceBatches: [TokenBatch]
    let swap: Swap
    /// The slot `swap` fills, when candidates may be stacked.
    public let candidateSlot: String?
    /// Whether candidates asked for together are stacked (with a `candidateSlot`).
    public var stacksCandidates: Bool
    /// Rows of one stacked forward pass: candidates × B·T.
    public var stackedRows = 2048

    /// Candidates fill LoRA slot `slot`.
    public convenience init(model: TransformerModel, slot: String = TransformerModel.defaultSlot, trustBatches: [TokenBatch], referenceBatches: [TokenBatch]) {
        self.init(model: model, trustBatches: trustBatches, referenceBatches: referenceBatches, candidateSlot: slot) { adapter, body in
            try model.withAdapter(adapter, named: slot, body)
        }
    }

    /// Candidates go where `swap` puts them (a scheme's candidate slot of any kind):
    /// slot `candidateSlot` of the model, when given, which makes stacking possible.
    public init(model: TransformerModel, trustBatches: [TokenBatch], referenceBatches: [TokenBatch], candidateSlot: String? = nil,
                swap: @escaping Swap) {
        self.model = model
        self.trustBatches = trustBatches
        self.referenceBatches = referenceBatches
        self.candidateSlot = candidateSlot
        stacksCandidates = candidateSlot != nil
        self.swap = swap
    }

    public func meanCrossEntropy(of adapter: LoRAAdapter) throws -> Double {
        var loss = 0.0
        try swap(adapter) { loss = Double(model.evaluateLoss(batches: trustBatches)) }
        return loss
    }

    public func topKLogits(of adapter: LoRAAdapter, k: Int) throws -> TopKLogits {
        var indices: [Int32] = [], values: [Float] = []
        let V = model.config.vocabularySize
        try swap(adapter) {
            for batch in referenceBatches {
                model.forwardOnly(batch: batch) { _, logits in
                    let top = TopKLogits(logits: logits, vocabularySize: V, k: k)
                    indices += top.indices
                    values += top.values
                }
            }
        }
        return TopKLogits(k: k, indices: indices, values: values)
    }

    public func meanCrossEntropies(of adapters: [LoRAAdapter]) throws -> [Double] {
        guard stacksCandidates, let slot = candidateSlot, adapters.count > 1 else { return try adapters.map(meanCrossEntropy) }
        var totals = [Double](repeating: 0, count: adapters.count), count = 0
        for batch in trustBatches {
            let losses = try model.forEachCandidate(
                count: adapters.count, inSlot: slot, batch: batch, stackedRows: stackedRows,
                values: { try slotValues(of: adapters[$0], slot: slot) })
            let targets = batch.targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
            for c in losses.indices { totals[c] += Double(losses[c]) * Double(targets) }
            count += targets
        }
        // As `evaluateLoss` rounds its mean.
        return totals.map { count > 0 ? Double(Float($0 / Double(count))) : 0 }
    }

    public func topKLogits(of adapters: [LoRAAdapter], k: Int) throws -> [TopKLogits] {
        guard stacksCandidates, let slot = candidateSlot, adapters.count > 1 else { return try adapters.map { try topKLogits(of: $0, k: k) } }
        let V = model.config.vocabularySize
        var indices = [[Int32]](repeating: [], count: adapters.count), kept = [[Float]](repeating: [], count: adapters.count)
        for batch in referenceBatches {
            try model.forEachCandidate(
                count: adapters.count, inSlot: slot, batch: batch, stackedRows: stackedRows,
                values: { try slotValues(of: adapters[$0], slot: slot) }
            ) { c, _, logits in
                let top = TopKLogits(logits: logits, vocabularySize: V, k: k)
                indices[c] += top.indices
                kept[c] += top.values
            }
        }
        return zip(indices, kept).map { TopKLogits(k: k, indices: $0, values: $1) }
    }

    /// The values of `slot` with `adapter` put there by `swap`.
    private func slotValues(of adapter: LoRAAdapter, slot: String) throws -> [Float] {
        var values: [Float] = []
        try swap(adapter) { values = try model.slotValues(named: slot) }
        return values
    }
}
