// LoRAProximal: the proximal term that keeps a LoRA slot's merged update near an
// anchor (FedBiOT's client objective, the round start's aggregate):
//
//   P = ε · Σ_projections ‖s (B A − B₀ A₀)‖²_F,  s = alpha / r,
//
// on the merged product, not on A and B apart, because two factorisations of one
// update are the same model. With D = s (B A − B₀ A₀) (out, in):
//   ∂P/∂B = 2 ε s D Aᵀ (out, r),  ∂P/∂A = 2 ε s Bᵀ D (r, in).

extension TransformerModel {
    /// Adds the gradient of ε · ‖s (B A − B₀ A₀)‖² over every projection of slot
    /// `name` (anchor B₀, A₀ from `anchor`, which must fit the slot) to the slot's
    /// gradients, and returns the term's value. The slot must be training.
    /// - Throws: `ModelError.noSlot`, `ModelError.adapterMismatch`.
    @discardableResult
    public func addProximalGradient(slot name: String, anchor: LoRAAdapter, epsilon: Float) throws(ModelError) -> Float {
        guard let slot = slot(named: name) else { throw .noSlot(name) }
        try check(anchor, fits: slot)
        guard epsilon > 0 else { return 0 }
        allocateGradients(for: .slot(name))
        let r = slot.lora.rank, s = slot.lora.scale * (slotScaleFactors[name] ?? 1)
        let gradients = slot.gradients!
        var total: Double = 0
        var offset = 0
        for entry in slot.layout.slots {
            let (IN, OUT) = (entry.inFeatures, entry.outFeatures)
            let a0 = anchor.tensors[2 * (offset)], b0 = anchor.tensors[2 * offset + 1]
            offset += 1
            let A = slot.values[entry.a], B = slot.values[entry.b]
            // D (out, in) = s · (B A − B₀ A₀)
            var D = [Float](repeating: 0, count: OUT * IN)
            D.withUnsafeMutableBufferPointer { d in
                a0.values.withUnsafeBufferPointer { a0 in
                    b0.values.withUnsafeBufferPointer { b0 in
                        sgemm(transposeA: false, transposeB: false, m: OUT, n: IN, k: r, alpha: s, a: B, lda: r, b: A, ldb: IN,
                              beta: 0, c: d.baseAddress!, ldc: IN)
                        sgemm(transposeA: false, transposeB: false, m: OUT, n: IN, k: r, alpha: -s, a: b0.baseAddress!, lda: r,
                              b: a0.baseAddress!, ldb: IN, beta: 1, c: d.baseAddress!, ldc: IN)
                    }
                }
                for x in d { total += Double(x) * Double(x) }
                // dB (out, r) += 2 ε s · D Aᵀ;  dA (r, in) += 2 ε s · Bᵀ D
                sgemm(transposeA: false, transposeB: true, m: OUT, n: r, k: IN, alpha: 2 * epsilon * s, a: d.baseAddress!, lda: IN,
                      b: A, ldb: IN, beta: 1, c: gradients[entry.b], ldc: r)
                sgemm(transposeA: true, transposeB: false, m: r, n: IN, k: OUT, alpha: 2 * epsilon * s, a: B, lda: r,
                      b: d.baseAddress!, ldb: IN, beta: 1, c: gradients[entry.a], ldc: IN)
            }
        }
        return epsilon * Float(total)
    }
}
