// BottleneckAdapter: the adapter of Houlsby et al. (arXiv 1902.00751) that PFTT
// (arXiv 2404.13238) shares between nodes, one per block, applied to the block's
// output after its MLP residual:
//
//   h ← h + U · gelu(D · h)        D (m, C): down to the bottleneck, U (C, m): back up.
//
// U starts at zero, so a new adapter leaves the model as it was. Row-major like every
// other kernel: D is stored [m, C] and U [C, m].

/// out (N,C) = inp + gelu(inp · Dᵀ) · Uᵀ. Keeps z (N,m) = inp · Dᵀ and a (N,m) = gelu(z)
/// for the backward pass. `out` may be `inp` (the update is then in place).
func bottleneckForward(
    out: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>, a: UnsafeMutablePointer<Float>,
    inp: UnsafePointer<Float>, D: UnsafePointer<Float>, U: UnsafePointer<Float>, N: Int, C: Int, m: Int
) {
    sgemm(transposeA: false, transposeB: true, m: N, n: m, k: C, a: inp, lda: C, b: D, ldb: C, beta: 0, c: z, ldc: m)
    geluForward(out: a, inp: z, N: N * m)
    if UnsafePointer(out) != inp { out.update(from: inp, count: N * C) }
    sgemm(transposeA: false, transposeB: true, m: N, n: C, k: m, a: a, lda: m, b: U, ldb: m, beta: 1, c: out, ldc: C)
}

/// Backward of `bottleneckForward` given dout (N,C), the gradient of its output:
/// dU (C,m) += doutᵀ · a and dD (m,C) += dzᵀ · inp when given (nil when the adapter is
/// frozen), where dz (N,m) = (dout · U) ⊙ gelu'(z); and dinp (N,C) = dout + dz · D.
/// `dinp` may be `dout` (in place). dz (N,m) is scratch.
func bottleneckBackward(
    dinp: UnsafeMutablePointer<Float>, dD: UnsafeMutablePointer<Float>?, dU: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, z: UnsafePointer<Float>, a: UnsafePointer<Float>,
    D: UnsafePointer<Float>, U: UnsafePointer<Float>, dz: UnsafeMutablePointer<Float>, N: Int, C: Int, m: Int
) {
    if let dU { sgemm(transposeA: true, transposeB: false, m: C, n: m, k: N, a: dout, lda: C, b: a, ldb: m, beta: 1, c: dU, ldc: m) }
    sgemm(transposeA: false, transposeB: false, m: N, n: m, k: C, a: dout, lda: C, b: U, ldb: m, beta: 0, c: dz, ldc: m)
    geluBackward(dinp: dz, inp: z, dout: dz, N: N * m)
    if let dD { sgemm(transposeA: true, transposeB: false, m: m, n: C, k: N, a: dz, lda: m, b: inp, ldb: C, beta: 1, c: dD, ldc: C) }
    if UnsafePointer(dinp) != dout { dinp.update(from: dout, count: N * C) }
    sgemm(transposeA: false, transposeB: false, m: N, n: C, k: m, a: dz, lda: m, b: D, ldb: C, beta: 1, c: dinp, ldc: C)
}
