// SwiGLU: the gate of Llama's MLP, down(silu(gate x) ⊙ up x). This file is the
// elementwise middle; the three projections are ordinary linear layers. Eight lanes at a
// time with VectorMath's exp8, as GELU, since the MLP width makes this exp-bound.

/// out (N) = silu(gate) · up for gate (N), up (N), silu(g) = g · σ(g) = g / (1 + e^(−g)).
func swiGLUForward(out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, N: Int) {
    Parallel.forRanges(N, costPerItem: 20) { range in
        let u = up + range.lowerBound
        map8(count: range.count, { i, g in
            let upValues = range.count - i >= 8 ? load8(u + i) : loadPartial(u + i, count: range.count - i)
            return g / (1 + exp8(-g)) * upValues
        }, inp: gate + range.lowerBound, out: out + range.lowerBound)
    }
}

/// dgate (N) = dout · up · silu'(gate) and dup (N) = dout · silu(gate) (both
/// overwritten), with silu'(g) = σ(g) · (1 + g · (1 − σ(g))).
func swiGLUBackward(
    dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, N: Int
) {
    Parallel.forRanges(N, costPerItem: 25) { range in
        var i = range.lowerBound
        while i < range.upperBound {
            let count = min(8, range.upperBound - i)
            func load(_ p: UnsafePointer<Float>) -> Float8 { count == 8 ? load8(p + i) : loadPartial(p + i, count: count) }
            let g = load(gate), d = load(dout), u = load(up)
            let s: Float8 = 1 / (1 + exp8(-g))
            let dg: Float8 = d * u * s * (1 + g * (1 - s))
            let du: Float8 = d * g * s
            if count == 8 {
                store8(dg, dgate + i)
                store8(du, dup + i)
            } else {
                storePartial(dg, dgate + i, count: count)
                storePartial(du, dup + i, count: count)
            }
            i += count
        }
    }
}
