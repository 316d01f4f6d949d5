// The distance behind the `prediction` strategy: how far apart two models' confident
// next-token predictions are on the same reference positions.

/// The distance d_ij between the top-k logits of models i and j.
///
/// At each position, each model's logits are cut down to its own k largest, every other
/// entry of the vocabulary set to 0 — a sparse vector ℓ̃ over the vocabulary — and the
/// distance is the L1 norm of the difference, Σ_v |ℓ̃_i(v) − ℓ̃_j(v)|:
/// - a token in both top-k sets contributes |ℓ_i(v) − ℓ_j(v)|,
/// - a token in only one model's top-k contributes that model's |ℓ(v)|.
/// d_ij is the mean of that L1 norm over the positions. This is the reference code's
/// meaning (it zeroes every logit below the k-th largest, then sums |difference|); it
/// divides the sum by the number of sequences rather than positions, a constant factor
/// that the row normalisation d̃_ij = d_ij / Σ_k d_ik cancels.
public enum PredictionDistance {
    /// Mean over positions of the L1 distance between the sparse top-k vectors.
    /// Both must cover the same positions with the same k.
    public static func distance(_ a: TopKLogits, _ b: TopKLogits) -> Double {
        precondition(a.k == b.k && a.positions == b.positions, "top-k logits of different shapes")
        let k = a.k
        let positions = a.positions
        guard positions > 0 else { return 0 }
        var total = 0.0
        a.indices.withUnsafeBufferPointer { ai in
            a.values.withUnsafeBufferPointer { av in
                b.indices.withUnsafeBufferPointer { bi in
                    b.values.withUnsafeBufferPointer { bv in
                        for p in 0..<positions {
                            let start = p * k, end = start + k
                            var x = start, y = start
                            var sum: Float = 0
                            while x < end && y < end {
                                if ai[x] == bi[y] {
                                    sum += abs(av[x] - bv[y]); x += 1; y += 1
                                } else if ai[x] < bi[y] {
                                    sum += abs(av[x]); x += 1
                                } else {
                                    sum += abs(bv[y]); y += 1
                                }
                            }
                            while x < end { sum += abs(av[x]); x += 1 }
                            while y < end { sum += abs(bv[y]); y += 1 }
                            total += Double(sum)
                        }
                    }
                }
            }
        }
        return total / Double(positions)
    }
}
