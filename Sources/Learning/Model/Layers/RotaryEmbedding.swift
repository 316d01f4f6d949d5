// RotaryEmbedding: rotary position embedding (RoPE) in the half-split layout of Hugging
// Face's Llama, where channel i of a head pairs with channel i + hs/2 (`rotate_half`),
// not with its neighbour as in the original paper and llama2.c.
//
// For position t and i < hs/2, with θ_i = t · rope_theta^(-2i/hs):
//     out[i]        = x[i] · cos θ_i − x[i + hs/2] · sin θ_i
//     out[i + hs/2] = x[i + hs/2] · cos θ_i + x[i] · sin θ_i
// The angles are computed in double precision once per call, then used in Float.

import Foundation

/// cos and sin of every (position, frequency), each (T, hs/2) row-major.
func rotaryTable(T: Int, headSize hs: Int, theta: Double) -> (cos: [Float], sin: [Float]) {
    let half = hs / 2
    var cosines = [Float](repeating: 0, count: T * half), sines = [Float](repeating: 0, count: T * half)
    for i in 0..<half {
        let frequency = 1 / pow(theta, Double(2 * i) / Double(hs))
        for t in 0..<T {
            let angle = Double(t) * frequency
            cosines[t * half + i] = Float(Foundation.cos(angle))
            sines[t * half + i] = Float(Foundation.sin(angle))
        }
    }
    return (cosines, sines)
}

/// out (B,T,NH,hs) = inp (B,T,NH,hs) with every head rotated by its position
/// firstPosition + t (an incremental decoder's new positions start past the cache); out
/// may be inp. hs must be even.
func rotaryForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, B: Int, T: Int, NH: Int, hs: Int, theta: Double, firstPosition: Int = 0
) {
    rotate(out: out, inp: inp, B: B, T: T, NH: NH, hs: hs, theta: theta, direction: 1, firstPosition: firstPosition)
}

/// dinp (B,T,NH,hs) = the rotation's transpose applied to dout (overwritten; dinp may be
/// dout): a rotation by −θ, since the rotation is orthogonal.
func rotaryBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, B: Int, T: Int, NH: Int, hs: Int, theta: Double) {
    rotate(out: dinp, inp: dout, B: B, T: T, NH: NH, hs: hs, theta: theta, direction: -1)
}

private func rotate(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, B: Int, T: Int, NH: Int, hs: Int, theta: Double, direction: Float,
    firstPosition: Int = 0
) {
    precondition(hs % 2 == 0, "rotary embedding needs an even head size, not \(hs)")
    let half = hs / 2
    let (cosines, sines) = rotaryTable(T: firstPosition + T, headSize: hs, theta: theta)
    cosines.withUnsafeBufferPointer { cosine in
        sines.withUnsafeBufferPointer { sine in
            Parallel.forRanges(B * T, costPerItem: 4 * NH * hs) { rows in
                for row in rows {
                    let t = firstPosition + row % T
                    let c = cosine.baseAddress! + t * half, s = sine.baseAddress! + t * half
                    for h in 0..<NH {
                        let x = inp + (row * NH + h) * hs, o = out + (row * NH + h) * hs
                        for i in 0..<half {
                            let x1 = x[i], x2 = x[i + half], sn = direction * s[i]
                            o[i] = x1 * c[i] - x2 * sn
                            o[i + half] = x2 * c[i] + x1 * sn
                        }
                    }
                }
            }
        }
    }
}
