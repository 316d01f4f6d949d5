// Attention: causal multi-head self-attention over a fused qkv projection.
//
// Each (batch, head) pair is two GEMMs forward and four backward through sgemm,
// reading q, k and v in place from the (B,T,3C) qkv tensor with row stride 3C, cut
// into causal blocks so that most of the masked upper triangle is never computed.
// The pairs are spread over the workers, each running single-threaded BLAS.

import Foundation

/// The row blocks of the causal products: a block of query rows [r0, r1) only meets
/// keys [0, r1), so four blocks skip 3/8 of each T×T product.
func causalBlocks(_ T: Int) -> [Range<Int>] {
    let count = min(4, T)
    return (0..<count).map { (($0 * T) / count)..<((($0 + 1) * T) / count) }
}

/// out (B,T,C) = softmax(q kᵀ / sqrt(hs), causal) v per head, hs = C / NH.
/// qkv is (B,T,3C) holding q | k | v, each split into NH heads of hs channels.
/// att (B,NH,T,T) keeps the attention probabilities (zero above the diagonal).
func attentionForward(
    out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>,
    qkv: UnsafePointer<Float>, B: Int, T: Int, C: Int, NH: Int
) {
    let hs = C / NH
    let scale = 1 / Float(hs).squareRoot()
    let blocks = causalBlocks(T)
    forEachHead(B: B, NH: NH) { pairs, _ in
        for pair in pairs {
            let b = pair / NH, h = pair % NH
            let q = qkv + b * T * 3 * C + h * hs, k = q + C, v = q + 2 * C
            let a = att + pair * T * T, o = out + b * T * C + h * hs
            for rows in blocks {
                // preatt[rows, 0..<r1] = scale · q[rows] (·,hs) · k[0..<r1]ᵀ (hs,r1)
                sgemm(transposeA: false, transposeB: true, m: rows.count, n: rows.upperBound, k: hs, alpha: scale,
                      a: q + rows.lowerBound * 3 * C, lda: 3 * C, b: k, ldb: 3 * C, beta: 0, c: a + rows.lowerBound * T, ldc: T)
                for t1 in rows { causalSoftmax(row: a + t1 * T, t: t1, T: T) }
                // out[rows] (·,hs) = att[rows, 0..<r1] · v[0..<r1] (r1,hs)
                sgemm(transposeA: false, transposeB: false, m: rows.count, n: hs, k: rows.upperBound,
                      a: a + rows.lowerBound * T, lda: T, b: v, ldb: 3 * C, beta: 0, c: o + rows.lowerBound * C, ldc: C)
            }
        }
    }
}

/// Softmax of row[0...t] in place, zeros in row[t+1..<T] (every attention kernel's
/// causal row: the training forward, grouped-query attention, incremental decoding).
func causalSoftmax(row: UnsafeMutablePointer<Float>, t: Int, T: Int) {
    var maximum = -Float.infinity
    for t2 in 0...t { maximum = max(maximum, row[t2]) }
    var sum: Float = 0
    for t2 in 0...t {
        let e = exp(row[t2] - maximum)
        row[t2] = e
        sum += e
    }
    let inverse = 1 / sum
    for t2 in 0...t { row[t2] *= inverse }
    for t2 in (t + 1)..<T { row[t2] = 0 }
}

/// dqkv (B,T,3C) = gradient of the attention given dout (B,T,C) (overwritten).
/// qkv and att are the forward's input and kept probabilities.
func attentionBackward(
    dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
    qkv: UnsafePointer<Float>, att: UnsafePointer<Float>, B: Int, T: Int, C: Int, NH: Int
) {
    let hs = C / NH
    let scale = 1 / Float(hs).squareRoot()
    let blocks = causalBlocks(T)
    forEachHead(B: B, NH: NH) { pairs, _ in
        let datt = UnsafeMutablePointer<Float>.allocate(capacity: T * T)
        defer { datt.deallocate() }
        for pair in pairs {
            let b = pair / NH, h = pair % NH
            let q = qkv + b * T * 3 * C + h * hs, k = q + C, v = q + 2 * C
            let dq = dqkv + b * T * 3 * C + h * hs, dk = dq + C, dv = dq + 2 * C
            let a = att + pair * T * T
            let d = dout + b * T * C + h * hs
            for rows in blocks {
                // datt[rows, 0..<r1] = dout[rows] (·,hs) · v[0..<r1]ᵀ
                sgemm(transposeA: false, transposeB: true, m: rows.count, n: rows.upperBound, k: hs,
                      a: d + rows.lowerBound * C, lda: C, b: v, ldb: 3 * C, beta: 0, c: datt + rows.lowerBound * T, ldc: T)
                // Softmax backward, in place: dpreatt = scale · att ⊙ (datt - Σ att ⊙ datt).
                for t1 in rows {
                    let p = a + t1 * T, g = datt + t1 * T
                    var dot: Float = 0
                    for t2 in 0...t1 { dot += p[t2] * g[t2] }
                    for t2 in 0...t1 { g[t2] = scale * p[t2] * (g[t2] - dot) }
                    for t2 in (t1 + 1)..<T { g[t2] = 0 }
                }
                // dq[rows] = dpreatt[rows, 0..<r1] · k[0..<r1]
                sgemm(transposeA: false, transposeB: false, m: rows.count, n: hs, k: rows.upperBound,
                      a: datt + rows.lowerBound * T, lda: T, b: k, ldb: 3 * C, beta: 0, c: dq + rows.lowerBound * 3 * C, ldc: 3 * C)
            }
            for keys in blocks {
                // Keys [c0, c1) are seen by query rows [c0, T) only:
                // dv[keys] = att[c0..<T, keys]ᵀ · dout[c0..<T]; dk[keys] = dpreatt[c0..<T, keys]ᵀ · q[c0..<T]
                let c0 = keys.lowerBound, seen = T - c0
                sgemm(transposeA: true, transposeB: false, m: keys.count, n: hs, k: seen, a: a + c0 * T + c0, lda: T,
                      b: d + c0 * C, ldb: C, beta: 0, c: dv + c0 * 3 * C, ldc: 3 * C)
                sgemm(transposeA: true, transposeB: false, m: keys.count, n: hs, k: seen, a: datt + c0 * T + c0, lda: T,
                      b: q + c0 * 3 * C, ldb: 3 * C, beta: 0, c: dk + c0 * 3 * C, ldc: 3 * C)
            }
        }
    }
}

/// Runs `body` over the B·NH (batch, head) pairs split among the workers. With more
/// than one worker, OpenBLAS runs single-threaded inside (its threads would only
/// contend with ours) and gets its thread count back afterwards.
func forEachHead(B: Int, NH: Int, _ body: (Range<Int>, Int) -> Void) {
    let workers = min(Parallel.workers, B * NH)
    guard workers > 1 else {
        body(0..<(B * NH), 0)
        return
    }
    let blasThreads = BLAS.threads
    BLAS.setThreads(1)
    defer { BLAS.setThreads(blasThreads) }
    Parallel.forRangesWithWorker(B * NH, body)
}
