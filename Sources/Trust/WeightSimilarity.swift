// The similarity behind the `weights` strategy: how alike two adapters' LoRA matrices are.

import Learning

/// The similarity s_ij of two adapters of the same layout.
///
/// s_ij is the mean, over every row of every LoRA matrix, of the cosine similarity of that
/// row in θ_i and in θ_j. "Row" is meant as in the reference code, whose matrices are
/// stored transposed with respect to the PEFT layout `LoRAAdapter` uses (A as
/// `[in, r]`, B as `[r, out]`, compared with `F.cosine_similarity(·, ·, dim=1)`): a row
/// there is a column here. So for each tensor of shape `[rows, cols]` this takes the
/// `cols` vectors of length `rows` — for A `[r, in]` the `in` vectors of length r, for
/// B `[out, r]` the r vectors of length `out` — and averages their cosines over all the
/// tensors' columns together (so larger matrices count more, as in the reference).
///
/// The cosine of x and y is x·y / (max(‖x‖, ε) · max(‖y‖, ε)) with ε = 1e-8, PyTorch's
/// definition: a zero vector (B starts at zero) has cosine 0 with anything.
public enum WeightSimilarity {
    /// PyTorch's `cosine_similarity` epsilon.
    public static let epsilon = 1e-8

    /// s_ij for two adapters with the same layout.
    public static func similarity(_ a: LoRAAdapter, _ b: LoRAAdapter) -> Double {
        precondition(a.hasSameLayout(as: b), "similarity of adapters with different layouts")
        var sum = 0.0
        var columns = 0
        var dot: [Double] = [], normA: [Double] = [], normB: [Double] = []
        for (x, y) in zip(a.tensors, b.tensors) {
            let rows = x.shape.first ?? 1
            let cols = rows == 0 ? 0 : x.count / rows
            guard cols > 0 else { continue }
            dot = [Double](repeating: 0, count: cols)
            normA = dot
            normB = dot
            x.values.withUnsafeBufferPointer { xv in
                y.values.withUnsafeBufferPointer { yv in
                    for r in 0..<rows {
                        let base = r * cols
                        for c in 0..<cols {
                            let p = Double(xv[base + c]), q = Double(yv[base + c])
                            dot[c] += p * q
                            normA[c] += p * p
                            normB[c] += q * q
                        }
                    }
                }
            }
            for c in 0..<cols {
                sum += dot[c] / (max(normA[c].squareRoot(), epsilon) * max(normB[c].squareRoot(), epsilon))
            }
            columns += cols
        }
        return columns == 0 ? 0 : sum / Double(columns)
    }
}
