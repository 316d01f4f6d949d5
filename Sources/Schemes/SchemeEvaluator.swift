// SchemeEvaluator: scores candidates for the trust row in a node's own model, with
// each candidate put into the scheme's candidate slot (a LoRA slot or a bottleneck
// adapter) and the slot's own values restored after.

import Learning
import Trust

public final class SchemeEvaluator: CandidateEvaluator {
    public let model: TransformerModel
    public let scheme: any PersonalizationScheme
    /// The node's own trust batches, for `validation`.
    public let trustBatches: [TokenBatch]
    /// The shared reference batches, for `prediction`.
    public let referenceBatches: [TokenBatch]

    public init(model: TransformerModel, scheme: any PersonalizationScheme, trustBatches: [TokenBatch], referenceBatches: [TokenBatch]) {
        self.model = model
        self.scheme = scheme
        self.trustBatches = trustBatches
        self.referenceBatches = referenceBatches
    }

    public func meanCrossEntropy(of adapter: LoRAAdapter) throws -> Double {
        try scheme.withCandidate(adapter, model: model) { Double(model.evaluateLoss(batches: trustBatches)) }
    }

    public func topKLogits(of adapter: LoRAAdapter, k: Int) throws -> TopKLogits {
        try scheme.withCandidate(adapter, model: model) {
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
