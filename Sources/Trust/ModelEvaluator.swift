// ModelEvaluator: a transformer as the CandidateEvaluator of the model-based strategies.

import Learning

/// Evaluates candidate adapters in one model's buffers: each call puts the adapter into
/// the model (by default into one LoRA slot, `withAdapter`), runs the forward pass and
/// puts the model's own values back, so k candidates cost k evaluations, no allocation of
/// a model, and the model is left as it was. The base weights and every other slot are
/// shared by every candidate; only the candidate's place differs.
public final class ModelEvaluator: CandidateEvaluator {
    /// Runs `body` with `adapter` in its place in the model and restores the model after.
    public typealias Swap = (_ adapter: LoRAAdapter, _ body: () throws -> Void) throws -> Void

    public let model: TransformerModel
    /// The node's own trust batches, for `validation`.
    public let trustBatches: [TokenBatch]
    /// The shared reference batches, for `prediction`.
    public let referenceBatches: [TokenBatch]
    let swap: Swap

    /// Candidates fill LoRA slot `slot`.
    public convenience init(model: TransformerModel, slot: String = TransformerModel.defaultSlot, trustBatches: [TokenBatch], referenceBatches: [TokenBatch]) {
        self.init(model: model, trustBatches: trustBatches, referenceBatches: referenceBatches) { adapter, body in
            try model.withAdapter(adapter, named: slot, body)
        }
    }

    /// Candidates go where `swap` puts them (a scheme's candidate slot of any kind).
    public init(model: TransformerModel, trustBatches: [TokenBatch], referenceBatches: [TokenBatch], swap: @escaping Swap) {
        self.model = model
        self.trustBatches = trustBatches
        self.referenceBatches = referenceBatches
        self.swap = swap
    }

    public func meanCrossEntropy(of adapter: LoRAAdapter) throws -> Double {
        var loss = 0.0
        try swap(adapter) { loss = Double(model.evaluateLoss(batches: trustBatches)) }
        return loss
    }

    public func topKLogits(of adapter: LoRAAdapter, k: Int) throws -> TopKLogits {
        var indices: [Int32] = [], values: [Float] = []
        try swap(adapter) {
            for batch in referenceBatches {
                model.forward(inputs: batch.inputs, targets: nil, batchSize: batch.batchSize, sequenceLength: batch.sequenceLength, training: false)
                let top = model.withLogits { TopKLogits(logits: $0, vocabularySize: model.config.vocabularySize, k: k) }
                indices += top.indices
                values += top.values
            }
        }
        return TopKLogits(k: k, indices: indices, values: values)
    }
}
