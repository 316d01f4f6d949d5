// GELU, the tanh approximation GPT-2 uses.

import Foundation

private let geluScale = Float((2.0 / Double.pi).squareRoot())

/// out (N) = 0.5 · x · (1 + tanh(sqrt(2/π) · (x + 0.044715 x³))) for inp (N).
func geluForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, N: Int) {
    Parallel.forRanges(N, costPerItem: 20) { range in
        for i in range {
            let x = inp[i]
            let u = geluScale * (x + 0.044715 * x * x * x)
            out[i] = 0.5 * x * (1 + tanh(u))
        }
    }
}

/// dinp (N) = dout · gelu'(inp) (overwritten; dinp may be the same buffer as dout).
func geluBackward(dinp: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, dout: UnsafePointer<Float>, N: Int) {
    Parallel.forRanges(N, costPerItem: 30) { range in
        for i in range {
            let x = inp[i]
            let u = geluScale * (x + 0.044715 * x * x * x)
            let th = tanh(u)
            let sech2 = 1 - th * th
            let derivative = 0.5 * (1 + th) + 0.5 * x * sech2 * geluScale * (1 + 3 * 0.044715 * x * x)
            dinp[i] = dout[i] * derivative
        }
    }
}
