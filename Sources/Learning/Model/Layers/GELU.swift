// GELU, the tanh approximation GPT-2 uses.
//
// 0.5·(1 + tanh(u)) is the logistic function of 2u, so both passes need one exp per
// value and no tanh.

private let geluScale = Float((2.0 / Double.pi).squareRoot())

/// out (N) = 0.5 · x · (1 + tanh(sqrt(2/π) · (x + 0.044715 x³))) for inp (N).
func geluForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, N: Int) {
    Parallel.forRanges(N, costPerItem: 20) { range in
        map8(count: range.count, { _, x in
            let u: Float8 = geluScale * (x + 0.044715 * x * x * x)
            return x / (1 + exp8(-2 * u))
        }, inp: inp + range.lowerBound, out: out + range.lowerBound)
    }
}

/// dinp (N) = dout · gelu'(inp) (overwritten; dinp may be the same buffer as dout).
/// With s = 1 / (1 + e^(-2u)): gelu = x·s and gelu' = s + 2·x·s·(1 - s)·du/dx.
func geluBackward(dinp: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, dout: UnsafePointer<Float>, N: Int) {
    Parallel.forRanges(N, costPerItem: 30) { range in
        let d = dout + range.lowerBound
        map8(count: range.count, { i, x in
            let x2: Float8 = x * x
            let u: Float8 = geluScale * (x + 0.044715 * x2 * x)
            let s: Float8 = 1 / (1 + exp8(-2 * u))
            let slope: Float8 = geluScale * (1 + 3 * 0.044715 * x2)
            let derivative: Float8 = s + 2 * x * s * (1 - s) * slope
            let g = range.count - i >= 8 ? load8(d + i) : loadPartial(d + i, count: range.count - i)
            return g * derivative
        }, inp: inp + range.lowerBound, out: dinp + range.lowerBound)
    }
}
