// KLDivergence: KL(p ‖ softmax(logits)) from soft targets over the vocabulary, fused
// with the softmax as the cross-entropy kernel is, for distilling one model's next-
// token distribution into another's (FedBiOT's emulator alignment).

import Foundation

/// probabilities (N,V) = softmax of each row of logits (N,V): the soft targets a
/// teacher's logits give. probabilities may be the logits buffer itself.
func softmaxForward(probabilities: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, N: Int, V: Int) {
    Parallel.forRanges(N, costPerItem: 12 * V) { rows in
        for row in rows {
            let l = logits + row * V
            let lse = logSumExp(l, V: V)
            map8(count: V, { _, x in exp8(x - lse) }, inp: l, out: probabilities + row * V)
        }
    }
}

/// losses (N) = KL(p_n ‖ q_n) = Σ_v p_v (log p_v − log q_v), q_n = softmax(logits row n),
/// for soft targets p (N,V), each row a distribution (Σ_v p_v = 1, 0 · log 0 = 0).
/// logsumexp (N) of the logits is kept for the backward pass.
func klDivergenceForward(
    losses: UnsafeMutablePointer<Float>, logsumexp: UnsafeMutablePointer<Float>,
    logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, N: Int, V: Int
) {
    Parallel.forRanges(N, costPerItem: 16 * V) { rows in
        for row in rows {
            let l = logits + row * V, p = targets + row * V
            let lse = logSumExp(l, V: V)
            logsumexp[row] = lse
            // Σ p (log p − l + lse), in Double: the terms cancel to a small number.
            var sum: Double = 0
            for v in 0..<V where p[v] > 0 {
                sum += Double(p[v]) * (Double(log(p[v])) - Double(l[v]) + Double(lse))
            }
            losses[row] = Float(sum)
        }
    }
}

/// dlogits (N,V) = dloss · (q_n · Σ_v p_v − p_n) per row, the gradient of dloss ·
/// KL(p_n ‖ softmax(logits row n)) (overwritten). dlogits may be the logits buffer
/// itself: each value is read once, then replaced.
func klDivergenceBackward(
    dlogits: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, logsumexp: UnsafePointer<Float>,
    targets: UnsafePointer<Float>, dloss: Float, N: Int, V: Int
) {
    Parallel.forRanges(N, costPerItem: 12 * V) { rows in
        for row in rows {
            let l = logits + row * V, p = targets + row * V, d = dlogits + row * V
            var mass: Float = 0
            for v in 0..<V { mass += p[v] }
            let lse = logsumexp[row], scale = dloss * mass
            map8(count: V, { _, x in scale * exp8(x - lse) }, inp: l, out: d)
            for v in 0..<V { d[v] -= dloss * p[v] }
        }
    }
}
