// The personalized adapter: the candidates' adapters averaged by the node's trust row.

import Learning

/// θ_i ← Σ_j w_ij θ_j, on every LoRA A and B separately.
public enum TrustAggregation {
    /// The weighted sum of `adapters` with `weights`, in the layout of `adapters[0]`.
    ///
    /// Candidates with weight 0 are skipped entirely (so an excluded candidate's adapter,
    /// whatever its layout, never enters); every other adapter must have the layout of
    /// `adapters[0]`. Each tensor is accumulated in f32 with `VectorMath.addScaled`.
    public static func aggregate(_ adapters: [LoRAAdapter], weights: [Double]) -> LoRAAdapter {
        precondition(!adapters.isEmpty && adapters.count == weights.count, "one weight per adapter")
        let layout = adapters[0]
        let contributing = zip(adapters, weights).filter { $0.1 != 0 }
        for (adapter, _) in contributing {
            precondition(adapter.hasSameLayout(as: layout), "aggregating an adapter of another layout")
        }
        var tensors = layout.tensors
        for t in tensors.indices {
            let n = tensors[t].count
            guard n > 0 else { continue }
            tensors[t].values.withUnsafeMutableBufferPointer { sum in
                sum.initialize(repeating: 0)
                for (adapter, w) in contributing {
                    adapter.tensors[t].values.withUnsafeBufferPointer { x in
                        VectorMath.addScaled(Float(w), x.baseAddress!, to: sum.baseAddress!, count: n)
                    }
                }
            }
        }
        return LoRAAdapter(config: layout.config, tensors: tensors)
    }

    /// The personalized adapter of the node that computed `record`: its candidates'
    /// adapters (the node itself first, then `peers` in the record's order) weighted by
    /// the record's row.
    public static func aggregate(own: TrustCandidate, peers: [TrustCandidate], record: TrustRecord) -> LoRAAdapter {
        let candidates = [own] + peers
        precondition(candidates.map(\.id) == record.candidates, "candidates differ from the record's")
        return aggregate(candidates.map(\.adapter), weights: record.weights)
    }
}
