// LayerNorm over the channel dimension (GPT-2's eps is 1e-5, `layer_norm_epsilon`).

import Foundation

/// out (N,C) = (inp - mean) · rstd · weight + bias, per row of inp (N,C).
/// mean (N) and rstd (N) = 1 / sqrt(var + eps) are kept for the backward pass.
func layerNormForward(
    out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, N: Int, C: Int, epsilon: Float = 1e-5
) {
    Parallel.forRanges(N, costPerItem: 8 * C) { rows in
        for row in rows {
            let x = inp + row * C, o = out + row * C
            var sum: Float = 0
            for c in 0..<C { sum += x[c] }
            let m = sum / Float(C)
            var variance: Float = 0
            for c in 0..<C {
                let d = x[c] - m
                variance += d * d
            }
            let s = 1 / (variance / Float(C) + epsilon).squareRoot()
            for c in 0..<C { o[c] = (x[c] - m) * s * weight[c] + bias[c] }
            mean[row] = m
            rstd[row] = s
        }
    }
}

/// dinp (N,C) += the gradient through the normalisation of dout (N,C).
/// dweight (C) += Σ_rows dout · norm and dbias (C) += Σ_rows dout when given (nil when
/// the LayerNorm is frozen).
func layerNormBackward(
    dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, N: Int, C: Int
) {
    Parallel.forRanges(N, costPerItem: 10 * C) { rows in
        for row in rows {
            let x = inp + row * C, d = dout + row * C, di = dinp + row * C
            let m = mean[row], s = rstd[row]
            // dnorm = dout · weight; dinp = s · (dnorm - mean(dnorm) - norm · mean(dnorm · norm))
            var dnormMean: Float = 0, dnormNormMean: Float = 0
            for c in 0..<C {
                let norm = (x[c] - m) * s
                let dnorm = weight[c] * d[c]
                dnormMean += dnorm
                dnormNormMean += dnorm * norm
            }
            dnormMean /= Float(C)
            dnormNormMean /= Float(C)
            for c in 0..<C {
                let norm = (x[c] - m) * s
                let dnorm = weight[c] * d[c]
                di[c] += s * (dnorm - dnormMean - norm * dnormNormMean)
            }
        }
    }
    guard let dweight, let dbias else { return }
    // Column blocks, each summing over all rows in row order.
    Parallel.forRanges(C, costPerItem: 4 * N) { columns in
        for row in 0..<N {
            let x = inp + row * C, d = dout + row * C
            let m = mean[row], s = rstd[row]
            for c in columns {
                dweight[c] += (x[c] - m) * s * d[c]
                dbias[c] += d[c]
            }
        }
    }
}
