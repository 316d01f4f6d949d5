// NormalisedMSE: how far one hidden state is from another, relative to the target's
// own size, so that the loss reads the same at every depth of the residual stream
// (whose norm grows block after block) and at every position (GPT-2's first position
// carries a far larger state than the rest).
//
//   NMSE(a, b) = (1/N) Σ_n ‖a_n − b_n‖² / (‖b_n‖² + ε),  ε = 1e-8,
//
// a the prediction (N,C), b the target (N,C), held constant; one term per position n.

/// The ε of the denominator: keeps an all-zero target position finite.
let normalisedMSEEpsilon: Double = 1e-8

/// Returns NMSE(a, b) over N positions of C channels, and writes each position's
/// 1 / (‖b_n‖² + ε) into `inverseNorms` (N) for the backward pass.
func normalisedMSEForward(
    inverseNorms: UnsafeMutablePointer<Float>, prediction a: UnsafePointer<Float>, target b: UnsafePointer<Float>, N: Int, C: Int
) -> Float {
    var total: Double = 0
    for n in 0..<N {
        var error: Double = 0, norm: Double = 0
        for c in 0..<C {
            let t = Double(b[n * C + c]), e = Double(a[n * C + c]) - t
            error += e * e
            norm += t * t
        }
        let inverse = 1 / (norm + normalisedMSEEpsilon)
        inverseNorms[n] = Float(inverse)
        total += error * inverse
    }
    return N > 0 ? Float(total / Double(N)) : 0
}

/// da (N,C) += dloss · 2 (a_n − b_n) / (N (‖b_n‖² + ε)), the gradient of dloss · NMSE(a, b) in a.
func normalisedMSEBackward(
    da: UnsafeMutablePointer<Float>, prediction a: UnsafePointer<Float>, target b: UnsafePointer<Float>,
    inverseNorms: UnsafePointer<Float>, dloss: Float, N: Int, C: Int
) {
    guard N > 0 else { return }
    for n in 0..<N {
        let scale = 2 * dloss * inverseNorms[n] / Float(N)
        for c in 0..<C { da[n * C + c] += scale * (a[n * C + c] - b[n * C + c]) }
    }
}
