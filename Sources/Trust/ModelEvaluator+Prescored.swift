// PrescoredEvaluator: candidates scored while the node still waits for the rest.
//
// A round's candidates arrive one by one while the node waits for its slowest
// neighbour. Scoring each as soon as it is verified hides trust time behind that wait;
// the row is still formed when the wait ends, from the same scores the strategy would
// have asked for then.

import Learning

/// Wraps an evaluator and remembers the scores `prescore(_:)` computed ahead of time,
/// answering the strategy's later requests for those adapters from memory and passing
/// the rest on (together, so a stacking evaluator still stacks them). The model must
/// not change between prescoring and the row (it does not within a round's wait).
public final class PrescoredEvaluator: CandidateEvaluator {
    public let base: any CandidateEvaluator
    public let config: TrustConfig
    private var losses: [(adapter: LoRAAdapter, loss: Double)] = []
    private var selections: [(adapter: LoRAAdapter, k: Int, top: TopKLogits)] = []

    /// Prescores for the strategy and top-k of `config`; other strategies need no model.
    public init(_ base: any CandidateEvaluator, config: TrustConfig) {
        self.base = base
        self.config = config
    }

    /// Number of adapters scored ahead of time.
    public var prescoredCount: Int { losses.count + selections.count }

    /// Scores `adapter` now, as `config`'s strategy will ask for it; nothing for
    /// strategies that need no model, or when it is already scored.
    public func prescore(_ adapter: LoRAAdapter) throws {
        switch config.strategy {
        case .validation:
            if loss(of: adapter) == nil { losses.append((adapter, try base.meanCrossEntropy(of: adapter))) }
        case .prediction:
            if selection(of: adapter, k: config.logitsTopK) == nil {
                selections.append((adapter, config.logitsTopK, try base.topKLogits(of: adapter, k: config.logitsTopK)))
            }
        case .local, .fedavg, .oracle, .weights:
            break
        }
    }

    private func loss(of adapter: LoRAAdapter) -> Double? { losses.first { $0.adapter == adapter }?.loss }

    private func selection(of adapter: LoRAAdapter, k: Int) -> TopKLogits? {
        selections.first { $0.k == k && $0.adapter == adapter }?.top
    }

    public func meanCrossEntropy(of adapter: LoRAAdapter) throws -> Double {
        try loss(of: adapter) ?? base.meanCrossEntropy(of: adapter)
    }

    public func topKLogits(of adapter: LoRAAdapter, k: Int) throws -> TopKLogits {
        try selection(of: adapter, k: k) ?? base.topKLogits(of: adapter, k: k)
    }

    public func meanCrossEntropies(of adapters: [LoRAAdapter]) throws -> [Double] {
        let known = adapters.map(loss)
        let missing = adapters.indices.filter { known[$0] == nil }
        var computed = try base.meanCrossEntropies(of: missing.map { adapters[$0] }).makeIterator()
        return known.map { $0 ?? computed.next()! }
    }

    public func topKLogits(of adapters: [LoRAAdapter], k: Int) throws -> [TopKLogits] {
        let known = adapters.map { selection(of: $0, k: k) }
        let missing = adapters.indices.filter { known[$0] == nil }
        var computed = try base.topKLogits(of: missing.map { adapters[$0] }, k: k).makeIterator()
        return known.map { $0 ?? computed.next()! }
    }
}
