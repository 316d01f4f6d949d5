// RMSNorm: Llama's normalisation, x / rms(x) · weight, with no mean and no bias.
//
// As in Hugging Face's LlamaRMSNorm: rms = sqrt(mean(x²) + eps), eps from the
// checkpoint's `rms_norm_eps` (1e-5 for Llama and SmolLM, 1e-6 for Qwen2).

/// out (N,C) = inp · rstd · weight per row of inp (N,C), rstd = 1 / sqrt(mean(inp²) + eps).
/// rstd (N) is kept for the backward pass.
func rmsNormForward(
    out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, N: Int, C: Int, epsilon: Float
) {
    Parallel.forRanges(N, costPerItem: 4 * C) { rows in
        for row in rows {
            let x = inp + row * C, o = out + row * C
            var squares: Float = 0
            for c in 0..<C { squares += x[c] * x[c] }
            let s = 1 / (squares / Float(C) + epsilon).squareRoot()
            for c in 0..<C { o[c] = x[c] * s * weight[c] }
            rstd[row] = s
        }
    }
}

/// dinp (N,C) += the gradient through the normalisation of dout (N,C).
/// With g = dout · weight: dinp = rstd · (g - inp · rstd² · mean(g · inp)).
/// dweight (C) += Σ_rows dout · inp · rstd when given (nil when the norm is frozen).
func rmsNormBackward(
    dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rstd: UnsafePointer<Float>, N: Int, C: Int
) {
    Parallel.forRanges(N, costPerItem: 6 * C) { rows in
        for row in rows {
            let x = inp + row * C, d = dout + row * C, di = dinp + row * C
            let s = rstd[row]
            var dot: Float = 0
            for c in 0..<C { dot += weight[c] * d[c] * x[c] }
            let k = s * s * dot / Float(C)
            for c in 0..<C { di[c] += s * (weight[c] * d[c] - x[c] * k) }
        }
    }
    guard let dweight else { return }
    // Column blocks, each summing over all rows in row order.
    Parallel.forRanges(C, costPerItem: 3 * N) { columns in
        for row in 0..<N {
            let x = inp + row * C, d = dout + row * C
            let s = rstd[row]
            for c in columns { dweight[c] += x[c] * s * d[c] }
        }
    }
}
