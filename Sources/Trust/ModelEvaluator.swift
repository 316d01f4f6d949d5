// ModelEvaluator: a transformer as the CandidateEvaluator of the model-based strategies.

import Learning

/// Evaluates candidate adapters in one model's buffers: each call copies the adapter's
/// A and B values into one slot of the model (`withAdapter`), runs the forward pass and
/// puts the slot's own values back, so k candidates cost k evaluations, no allocation of
/// a model, and the model is left as it was. The base weights and every other slot are
/// shared by every candidate; only that slot differs.
public final class ModelEvaluator: CandidateEvaluator {
    public let model: TransformerModel
    /// The slot a candidate's adapter fills.
    public let slot: String
    /// The node's own trust batches, for `validation`.
    public let trustBatches: [TokenBatch]
    /// The shared reference batches, for `prediction`.
    public let referenceBatches: [TokenBatch]

    public init(model: TransformerModel, slot: String = TransformerModel.defaultSlot, trustBatches: [TokenBatch], referenceBatches: [TokenBatch]) {
        self.model = model
        self.slot = slot
        self.trustBatches = trustBatches
        self.referenceBatches = referenceBatches
    }

    public func meanCrossEntropy(of adapter: LoRAAdapter) throws -> Double {
        try model.withAdapter(adapter, named: slot) { Double(model.evaluateLoss(batches: trustBatches)) }
    }

    public func topKLogits(of adapter: LoRAAdapter, k: Int) throws -> TopKLogits {
        try model.withAdapter(adapter, named: slot) {
            var indices: [Int32] = [], values: [Float] = []
            for batch in referenceBatches {
                model.forward(inputs: batch.inputs, targets: nil, batchSize: batch.batchSize, sequenceLength: batch.sequenceLength, training: false)
                let top = model.withLogits { TopKLogits(logits: $0, vocabularySize: model.config.vocabularySize, k: k) }
                indices += top.indices
                values += top.values
            }
            return TopKLogits(k: k, indices: indices, values: values)
        }
    }
}
