// Matmul: a Hugging Face Conv1D projection, y = x W + b with W stored [in, out].

/// out (N,OC) = inp (N,IC) · weight (IC,OC) + bias (OC).
func matmulForward(
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
    sgemm(transposeA: false, transposeB: false, m: N, n: OC, k: IC, a: inp, lda: IC, b: weight, ldb: OC, beta: beta, c: out, ldc: OC)
}

/// dinp (N,IC) = dout (N,OC) · weightᵀ (overwritten) when given.
/// dweight (IC,OC) += inpᵀ · dout and dbias (OC) += Σ_rows dout when given (nil when
/// the projection is frozen, so LoRA training never pays for them).
func matmulBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, N: Int, IC: Int, OC: Int
) {
    if let dinp {
        sgemm(transposeA: false, transposeB: true, m: N, n: IC, k: OC, a: dout, lda: OC, b: weight, ldb: OC, beta: 0, c: dinp, ldc: IC)
    }
    if let dweight {
        sgemm(transposeA: true, transposeB: false, m: IC, n: OC, k: N, a: inp, lda: IC, b: dout, ldb: OC, beta: 1, c: dweight, ldc: OC)
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
