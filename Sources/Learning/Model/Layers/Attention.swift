// Attention: causal multi-head self-attention over a fused qkv projection.
//
// Each (batch, head) pair is two GEMMs forward and four backward through sgemm,
// reading q, k and v in place from the (B,T,3C) qkv tensor with row stride 3C. The
// pairs are spread over the workers, each running single-threaded BLAS.

import Foundation

/// out (B,T,C) = softmax(q kᵀ / sqrt(hs), causal) v per head, hs = C / NH.
/// qkv is (B,T,3C) holding q | k | v, each split into NH heads of hs channels.
/// att (B,NH,T,T) keeps the attention probabilities (zero above the diagonal).
func attentionForward(
    out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>,
    qkv: UnsafePointer<Float>, B: Int, T: Int, C: Int, NH: Int
) {
    let hs = C / NH
    let scale = 1 / Float(hs).squareRoot()
    forEachHead(B: B, NH: NH) { pairs, _ in
        for pair in pairs {
            let b = pair / NH, h = pair % NH
            let q = qkv + b * T * 3 * C + h * hs, k = q + C, v = q + 2 * C
            let a = att + pair * T * T
            // preatt (T,T) = scale · q (T,hs) · kᵀ (hs,T)
            sgemm(transposeA: false, transposeB: true, m: T, n: T, k: hs, alpha: scale, a: q, lda: 3 * C, b: k, ldb: 3 * C, beta: 0, c: a, ldc: T)
            for t1 in 0..<T {
                let row = a + t1 * T
                var maximum = -Float.infinity
                for t2 in 0...t1 { maximum = max(maximum, row[t2]) }
                var sum: Float = 0
                for t2 in 0...t1 {
                    let e = exp(row[t2] - maximum)
                    row[t2] = e
                    sum += e
                }
                let inverse = 1 / sum
                for t2 in 0...t1 { row[t2] *= inverse }
                for t2 in (t1 + 1)..<T { row[t2] = 0 }
            }
            // out (T,hs) = att (T,T) · v (T,hs)
            sgemm(transposeA: false, transposeB: false, m: T, n: hs, k: T, a: a, lda: T, b: v, ldb: 3 * C, beta: 0, c: out + b * T * C + h * hs, ldc: C)
        }
    }
}

/// dqkv (B,T,3C) = gradient of the attention given dout (B,T,C) (overwritten).
/// qkv and att are the forward's input and kept probabilities.
func attentionBackward(
    dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
    qkv: UnsafePointer<Float>, att: UnsafePointer<Float>, B: Int, T: Int, C: Int, NH: Int
) {
    let hs = C / NH
    let scale = 1 / Float(hs).squareRoot()
    forEachHead(B: B, NH: NH) { pairs, _ in
        let datt = UnsafeMutablePointer<Float>.allocate(capacity: T * T)
        defer { datt.deallocate() }
        for pair in pairs {
            let b = pair / NH, h = pair % NH
            let q = qkv + b * T * 3 * C + h * hs, k = q + C, v = q + 2 * C
            let dq = dqkv + b * T * 3 * C + h * hs, dk = dq + C, dv = dq + 2 * C
            let a = att + pair * T * T
            let d = dout + b * T * C + h * hs
            // datt (T,T) = dout (T,hs) · vᵀ ; dv (T,hs) = attᵀ (T,T) · dout (T,hs)
            sgemm(transposeA: false, transposeB: true, m: T, n: T, k: hs, a: d, lda: C, b: v, ldb: 3 * C, beta: 0, c: datt, ldc: T)
            sgemm(transposeA: true, transposeB: false, m: T, n: hs, k: T, a: a, lda: T, b: d, ldb: C, beta: 0, c: dv, ldc: 3 * C)
            // Softmax backward, in place: dpreatt = scale · att ⊙ (datt - Σ att ⊙ datt).
            for t1 in 0..<T {
                let p = a + t1 * T, g = datt + t1 * T
                var dot: Float = 0
                for t2 in 0...t1 { dot += p[t2] * g[t2] }
                for t2 in 0...t1 { g[t2] = scale * p[t2] * (g[t2] - dot) }
                for t2 in (t1 + 1)..<T { g[t2] = 0 }
            }
            // dq (T,hs) = dpreatt · k ; dk (T,hs) = dpreattᵀ · q
            sgemm(transposeA: false, transposeB: false, m: T, n: hs, k: T, a: datt, lda: T, b: k, ldb: 3 * C, beta: 0, c: dq, ldc: 3 * C)
            sgemm(transposeA: true, transposeB: false, m: T, n: hs, k: T, a: datt, lda: T, b: q, ldb: 3 * C, beta: 0, c: dk, ldc: 3 * C)
        }
    }
}

/// Runs `body` over the B·NH (batch, head) pairs split among the workers. With more
/// than one worker, OpenBLAS runs single-threaded inside (its threads would only
/// contend with ours) and gets its thread count back afterwards.
private func forEachHead(B: Int, NH: Int, _ body: (Range<Int>, Int) -> Void) {
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
