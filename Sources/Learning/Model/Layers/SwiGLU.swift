// SwiGLU: the gate of Llama's MLP, down(silu(gate x) ⊙ up x). This file is the
// elementwise middle; the three projections are ordinary linear layers.

import Foundation

/// out (N) = silu(gate) · up for gate (N), up (N), silu(g) = g · σ(g).
func swiGLUForward(out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, N: Int) {
    Parallel.forRanges(N, costPerItem: 20) { range in
        for i in range {
            let g = gate[i]
            out[i] = g / (1 + exp(-g)) * up[i]
        }
    }
}

/// dgate (N) = dout · up · silu'(gate) and dup (N) = dout · silu(gate) (both
/// overwritten), with silu'(g) = σ(g) · (1 + g · (1 - σ(g))).
func swiGLUBackward(
    dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, N: Int
) {
    Parallel.forRanges(N, costPerItem: 25) { range in
        for i in range {
            let g = gate[i], d = dout[i]
            let s = 1 / (1 + exp(-g))
            dgate[i] = d * up[i] * s * (1 + g * (1 - s))
            dup[i] = d * g * s
        }
    }
}
