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
        for (x, y) in zip(a.tensors, b.tensors) {
            let rows = x.shape.first ?? 1
            let cols = rows == 0 ? 0 : x.count / rows
            guard cols > 0 else { continue }
            sum += columnCosineSum(x.values, y.values, rows: rows, cols: cols)
            columns += cols
        }
        return columns == 0 ? 0 : sum / Double(columns)
    }

    /// Σ over the columns of two `[rows, cols]` row-major matrices of their cosine.
    private static func columnCosineSum(_ x: [Float], _ y: [Float], rows: Int, cols: Int) -> Double {
        // Accumulators per column, filled row by row so the inner loop runs over
        // contiguous memory.
        var accumulators = [Double](repeating: 0, count: 3 * cols)
        return accumulators.withUnsafeMutableBufferPointer { acc in
            let dot = acc.baseAddress!, normX = dot + cols, normY = dot + 2 * cols
            x.withUnsafeBufferPointer { xv in
                y.withUnsafeBufferPointer { yv in
                    for r in 0..<rows {
                        let xr = xv.baseAddress! + r * cols, yr = yv.baseAddress! + r * cols
                        for c in 0..<cols {
                            let p = Double(xr[c]), q = Double(yr[c])
                            dot[c] += p * q
                            normX[c] += p * p
                            normY[c] += q * q
                        }
                    }
                }
            }
            var sum = 0.0
            for c in 0..<cols {
                sum += dot[c] / (max(normX[c].squareRoot(), epsilon) * max(normY[c].squareRoot(), epsilon))
            }
            return sum
        }
    }
}
