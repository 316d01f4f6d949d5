// ModelEvaluator: a GPT-2 model as the CandidateEvaluator of the model-based strategies.

import Learning

/// Evaluates candidate adapters in one model's buffers: each call copies the adapter's
/// A and B values into the model's LoRA slots (`setAdapter`) and runs the forward pass,
/// so k candidates cost k evaluations and no allocation of a model. The base weights are
/// shared by every candidate; only the adapter differs.
public final class ModelEvaluator: CandidateEvaluator {
    public let model: TransformerModel
    /// The node's own trust batches, for `validation`.
    public let trustBatches: [TokenBatch]
    /// The shared reference batches, for `prediction`.
    public let referenceBatches: [TokenBatch]

    public init(model: TransformerModel, trustBatches: [TokenBatch], referenceBatches: [TokenBatch]) {
        self.model = model
        self.trustBatches = trustBatches
        self.referenceBatches = referenceBatches
    }

    public func meanCrossEntropy(of adapter: LoRAAdapter) throws -> Double {
        try model.setAdapter(adapter)
        return Double(model.evaluateLoss(batches: trustBatches))
    }

    public func topKLogits(of adapter: LoRAAdapter, k: Int) throws -> TopKLogits {
        try model.setAdapter(adapter)
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
