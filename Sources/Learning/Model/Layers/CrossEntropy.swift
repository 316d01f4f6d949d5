// CrossEntropy: softmax and cross-entropy fused over the vocabulary.

import Foundation

/// losses (N) = logsumexp(logits row) - logits[target] for logits (N,V), targets (N).
/// A negative target marks a position without a target: its loss is 0.
/// logsumexp (N) is kept for the backward pass.
func crossEntropyForward(
    losses: UnsafeMutablePointer<Float>, logsumexp: UnsafeMutablePointer<Float>,
    logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, N: Int, V: Int
) {
    Parallel.forRanges(N, costPerItem: 12 * V) { rows in
        for row in rows {
            let l = logits + row * V
            let lse = logSumExp(l, V: V)
            logsumexp[row] = lse
            let target = Int(targets[row])
            losses[row] = target >= 0 ? lse - l[target] : 0
        }
    }
}

/// log Σ_v exp(row[v]) over one row of V logits, shifted by the row's maximum (eight
/// lanes at a time, the tail padded; the cross-entropy and KL kernels share it).
func logSumExp(_ row: UnsafePointer<Float>, V: Int) -> Float {
    var maximum8 = Float8(repeating: -.infinity)
    var i = 0
    while i + 8 <= V {
        maximum8 = pointwiseMax(maximum8, load8(row + i))
        i += 8
    }
    if i < V { maximum8 = pointwiseMax(maximum8, loadPartial(row + i, count: V - i, padding: -.infinity)) }
    let maximum = maximum8.max()
    var sum8 = Float8()
    i = 0
    while i + 8 <= V {
        sum8 += exp8(load8(row + i) - maximum)
        i += 8
    }
    if i < V {
        let tail = exp8(loadPartial(row + i, count: V - i) - maximum)
        for lane in 0..<(V - i) { sum8[lane] += tail[lane] }
    }
    return maximum + log(sum8.sum())
}

/// dlogits (rows.count, V) = dloss · (softmax(logits row) - onehot(target)) for the
/// given rows of logits (N,V) (overwritten; rows without a target get zeros). dlogits
/// may be the logits buffer itself: each value is read once, then replaced.
func crossEntropyBackward(
    dlogits: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, logsumexp: UnsafePointer<Float>,
    targets: UnsafePointer<Int32>, dloss: Float, rows: Range<Int>, V: Int
) {
    Parallel.forRanges(rows.count, costPerItem: 12 * V) { local in
        for offset in local {
            let row = rows.lowerBound + offset
            let l = logits + row * V, d = dlogits + offset * V
            let target = Int(targets[row])
            guard target >= 0 else {
                d.update(repeating: 0, count: V)
                continue
            }
            let lse = logsumexp[row]
            map8(count: V, { _, x in dloss * exp8(x - lse) }, inp: l, out: d)
            d[target] -= dloss
        }
    }
}
