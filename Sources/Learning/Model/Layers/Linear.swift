// Linear: a torch.nn.Linear projection, y = x Wᵀ + b with W stored [out, in] as
// Hugging Face's Llama, Qwen2 and PEFT store it. The weight is read in place through
// sgemm's transposed flag, never copied into Matmul's [in, out] layout.

/// out (N,OC) = inp (N,IC) · weightᵀ (IC,OC) + bias (OC), weight (OC,IC).
func linearForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, N: Int, IC: Int, OC: Int
) {
    var beta: Float = 0
    if let bias {
        Parallel.forRanges(N, costPerItem: OC) { rows in
            for row in rows { (out + row * OC).update(from: bias, count: OC) }
        }
        beta = 1
    }
    sgemm(transposeA: false, transposeB: true, m: N, n: OC, k: IC, a: inp, lda: IC, b: weight, ldb: IC, beta: beta, c: out, ldc: OC)
}

/// dinp (N,IC) = dout (N,OC) · weight (OC,IC) when given: overwritten, or added to with
/// `accumulate` (q, k and v read the same input, so their input gradients sum).
/// dweight (OC,IC) += doutᵀ · inp and dbias (OC) += Σ_rows dout when given (nil when
/// the projection is frozen).
func linearBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, N: Int, IC: Int, OC: Int,
    accumulate: Bool = false
) {
    if let dinp {
        sgemm(transposeA: false, transposeB: false, m: N, n: IC, k: OC, a: dout, lda: OC, b: weight, ldb: IC,
              beta: accumulate ? 1 : 0, c: dinp, ldc: IC)
    }
    if let dweight {
        sgemm(transposeA: true, transposeB: false, m: OC, n: IC, k: N, a: dout, lda: OC, b: inp, ldb: IC, beta: 1, c: dweight, ldc: IC)
    }
    if let dbias {
        Parallel.forRanges(OC, costPerItem: N) { columns in
            for row in 0..<N {
                let d = dout + row * OC
                for c in columns { dbias[c] += d[c] }
            }
        }
    }
}
