// GroupedQueryAttention: causal self-attention over separate q, k and v projections in
// which NH query heads share NKV key/value heads (Llama's `num_key_value_heads`): query
// head h reads kv head h / (NH / NKV). NKV == NH is multi-head attention, NKV == 1
// multi-query attention.
//
// The GEMMs and causal blocks are those of Attention.swift, with q, k and v read in
// place at their own row strides. The forward pass spreads the (batch, query head)
// pairs over the workers; the backward pass spreads (batch, kv head) pairs, so that the
// query heads of one group, which all add into the same dk and dv, run on one worker in
// order and the sums need no locks and do not depend on the number of workers.

import Foundation

/// out (B,T,NH·hs) = softmax(q kᵀ / sqrt(hs), causal) v per query head, with
/// q (B,T,NH·hs), k and v (B,T,NKV·hs), NKV dividing NH; q and k already rotated.
/// att (B,NH,T,T) keeps the attention probabilities (zero above the diagonal).
func groupedQueryAttentionForward(
    out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>,
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    B: Int, T: Int, NH: Int, NKV: Int, hs: Int
) {
    precondition(NKV > 0 && NH % NKV == 0, "\(NKV) key/value heads do not divide \(NH) query heads")
    let C = NH * hs, KC = NKV * hs, group = NH / NKV
    let scale = 1 / Float(hs).squareRoot()
    let blocks = causalBlocks(T)
    forEachHead(B: B, NH: NH) { pairs, _ in
        for pair in pairs {
            let b = pair / NH, h = pair % NH
            let qh = q + b * T * C + h * hs, o = out + b * T * C + h * hs
            let kh = k + b * T * KC + (h / group) * hs, vh = v + b * T * KC + (h / group) * hs
            let a = att + pair * T * T
            for rows in blocks {
                // preatt[rows, 0..<r1] = scale · q[rows] (·,hs) · k[0..<r1]ᵀ (hs,r1)
                sgemm(transposeA: false, transposeB: true, m: rows.count, n: rows.upperBound, k: hs, alpha: scale,
                      a: qh + rows.lowerBound * C, lda: C, b: kh, ldb: KC, beta: 0, c: a + rows.lowerBound * T, ldc: T)
                for t1 in rows { causalSoftmax(row: a + t1 * T, t: t1, T: T) }
                // out[rows] (·,hs) = att[rows, 0..<r1] · v[0..<r1] (r1,hs)
                sgemm(transposeA: false, transposeB: false, m: rows.count, n: hs, k: rows.upperBound,
                      a: a + rows.lowerBound * T, lda: T, b: vh, ldb: KC, beta: 0, c: o + rows.lowerBound * C, ldc: C)
            }
        }
    }
}

/// dq (B,T,NH·hs), dk and dv (B,T,NKV·hs) = the gradients given dout (B,T,NH·hs), all
/// three overwritten; dk and dv sum over the query heads of each group. q, k, v and att
/// are the forward's inputs and kept probabilities.
func groupedQueryAttentionBackward(
    dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    att: UnsafePointer<Float>, B: Int, T: Int, NH: Int, NKV: Int, hs: Int
) {
    precondition(NKV > 0 && NH % NKV == 0, "\(NKV) key/value heads do not divide \(NH) query heads")
    let C = NH * hs, KC = NKV * hs, group = NH / NKV
    let scale = 1 / Float(hs).squareRoot()
    let blocks = causalBlocks(T)
    forEachHead(B: B, NH: NKV) { pairs, _ in
        let datt = UnsafeMutablePointer<Float>.allocate(capacity: T * T)
        defer { datt.deallocate() }
        for pair in pairs {
            let b = pair / NKV, kv = pair % NKV
            let kh = k + b * T * KC + kv * hs, vh = v + b * T * KC + kv * hs
            let dkh = dk + b * T * KC + kv * hs, dvh = dv + b * T * KC + kv * hs
            for h in (kv * group)..<((kv + 1) * group) {
                let qh = q + b * T * C + h * hs, dqh = dq + b * T * C + h * hs, d = dout + b * T * C + h * hs
                let a = att + (b * NH + h) * T * T
                // The group's first query head writes dk and dv, the others add to them.
                let beta: Float = h == kv * group ? 0 : 1
                for rows in blocks {
                    // datt[rows, 0..<r1] = dout[rows] (·,hs) · v[0..<r1]ᵀ
                    sgemm(transposeA: false, transposeB: true, m: rows.count, n: rows.upperBound, k: hs,
                          a: d + rows.lowerBound * C, lda: C, b: vh, ldb: KC, beta: 0, c: datt + rows.lowerBound * T, ldc: T)
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
                          a: datt + rows.lowerBound * T, lda: T, b: kh, ldb: KC, beta: 0, c: dqh + rows.lowerBound * C, ldc: C)
                }
                for keys in blocks {
                    // Keys [c0, c1) are seen by query rows [c0, T) only:
                    // dv[keys] += att[c0..<T, keys]ᵀ · dout[c0..<T]; dk[keys] += dpreatt[c0..<T, keys]ᵀ · q[c0..<T]
                    let c0 = keys.lowerBound, seen = T - c0
                    sgemm(transposeA: true, transposeB: false, m: keys.count, n: hs, k: seen, a: a + c0 * T + c0, lda: T,
                          b: d + c0 * C, ldb: C, beta: beta, c: dvh + c0 * KC, ldc: KC)
                    sgemm(transposeA: true, transposeB: false, m: keys.count, n: hs, k: seen, a: datt + c0 * T + c0, lda: T,
                          b: qh + c0 * C, ldb: C, beta: beta, c: dkh + c0 * KC, ldc: KC)
                }
            }
        }
    }
}
