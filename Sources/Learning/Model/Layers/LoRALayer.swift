// LoRALayer: the low-rank branch added to a frozen (or trained) projection.

/// out (N,OUT) += scale · xd (N,IN) · Aᵀ (IN,r) · Bᵀ (r,OUT), with xd = dropout(inp)
/// when `mask` is given (training) and xd = inp otherwise.
/// A is (r,IN), B is (OUT,r) as PEFT stores them. h (N,r) = xd · Aᵀ is kept for the
/// backward pass; xd (N,IN) is scratch.
func loraForward(
    out: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>, xd: UnsafeMutablePointer<Float>,
    inp: UnsafePointer<Float>, A: UnsafePointer<Float>, B: UnsafePointer<Float>,
    N: Int, IN: Int, OUT: Int, r: Int, scale: Float, mask: DropoutMask?
) {
    var x = inp
    if let mask {
        Parallel.forRanges(N, costPerItem: 4 * IN) { rows in mask.apply(out: xd, inp: inp, rows: rows, width: IN) }
        x = UnsafePointer(xd)
    }
    sgemm(transposeA: false, transposeB: true, m: N, n: r, k: IN, a: x, lda: IN, b: A, ldb: IN, beta: 0, c: h, ldc: r)
    sgemm(transposeA: false, transposeB: true, m: N, n: OUT, k: r, alpha: scale, a: h, lda: r, b: B, ldb: r, beta: 1, c: out, ldc: OUT)
}

/// With dh (N,r) = scale · dout (N,OUT) · B:
/// dB (OUT,r) += scale · doutᵀ · h and dA (r,IN) += dhᵀ · xd when given (nil for a
/// frozen slot), and, when given, dinp (N,IN) += dropout'(dh · A). xd (N,IN) and
/// dh (N,r) are scratch; the forward's mask is regenerated, not stored.
func loraBackward(
    dinp: UnsafeMutablePointer<Float>?, dA: UnsafeMutablePointer<Float>?, dB: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, h: UnsafePointer<Float>,
    A: UnsafePointer<Float>, B: UnsafePointer<Float>, xd: UnsafeMutablePointer<Float>, dh: UnsafeMutablePointer<Float>,
    N: Int, IN: Int, OUT: Int, r: Int, scale: Float, mask: DropoutMask?
) {
    if let dB {
        sgemm(transposeA: true, transposeB: false, m: OUT, n: r, k: N, alpha: scale, a: dout, lda: OUT, b: h, ldb: r, beta: 1, c: dB, ldc: r)
    }
    sgemm(transposeA: false, transposeB: false, m: N, n: r, k: OUT, alpha: scale, a: dout, lda: OUT, b: B, ldb: r, beta: 0, c: dh, ldc: r)
    if let dA {
        var x = inp
        if let mask {
            Parallel.forRanges(N, costPerItem: 4 * IN) { rows in mask.apply(out: xd, inp: inp, rows: rows, width: IN) }
            x = UnsafePointer(xd)
        }
        sgemm(transposeA: true, transposeB: false, m: r, n: IN, k: N, a: dh, lda: r, b: x, ldb: IN, beta: 1, c: dA, ldc: IN)
    }
    guard let dinp else { return }
    guard let mask else {
        sgemm(transposeA: false, transposeB: false, m: N, n: IN, k: r, a: dh, lda: r, b: A, ldb: IN, beta: 1, c: dinp, ldc: IN)
        return
    }
    // dxd (N,IN) = dh · A into the scratch, then through the mask.
    sgemm(transposeA: false, transposeB: false, m: N, n: IN, k: r, a: dh, lda: r, b: A, ldb: IN, beta: 0, c: xd, ldc: IN)
    Parallel.forRanges(N, costPerItem: 4 * IN) { rows in mask.accumulateGradient(dinp: dinp, dout: xd, rows: rows, width: IN) }
}
