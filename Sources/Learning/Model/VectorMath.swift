// VectorMath: eight-lane helpers for the elementwise kernels (exp over the vocabulary
// and the MLP width dominates them; the scalar libm calls were a sixth of a step).

import COpenBLAS

typealias Float8 = SIMD8<Float>

/// e^x in eight lanes: Cody-Waite range reduction x = n·ln2 + r, then a degree-6
/// polynomial for e^r (the Cephes expf coefficients), scaled by 2^n through the
/// exponent bits. Relative error about 2e-7 over the clamped range [-87.3, 88.3]:
/// below it the result is ~1e-38 instead of 0, which no caller can tell apart.
@inline(__always)
func exp8(_ value: Float8) -> Float8 {
    var x = value
    x.replace(with: 88.3, where: x .> 88.3)
    x.replace(with: -87.3, where: .!(x .>= -87.3))  // also maps NaN, so -inf and NaN inputs stay finite
    // Adding 1.5·2²³ rounds to the nearest integer and leaves it in the low mantissa bits.
    let shifted = x * 1.442_695_04 + 12_582_912
    let n = shifted - 12_582_912
    let r = x - n * 0.693_359_375 - n * -2.121_944_4e-4
    var p: Float8 = Float8(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    p = p * (r * r) + r + 1
    let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
    return p * unsafeBitCast((integer &+ 127) &<< 23, to: Float8.self)
}

/// e^x for one value, computed exactly as one lane of `exp8`.
@inline(__always)
func exp1(_ x: Float) -> Float { exp8(Float8(repeating: x))[0] }

/// The `count` (< 8) values at `pointer` in the first lanes, `padding` in the rest.
@inline(__always)
func loadPartial(_ pointer: UnsafePointer<Float>, count: Int, padding: Float = 0) -> Float8 {
    var v = Float8(repeating: padding)
    for i in 0..<count { v[i] = pointer[i] }
    return v
}

/// Stores the first `count` (< 8) lanes of `v` at `pointer`.
@inline(__always)
func storePartial(_ v: Float8, _ pointer: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { pointer[i] = v[i] }
}

@inline(__always)
func load8(_ pointer: UnsafePointer<Float>) -> Float8 {
    UnsafeRawPointer(pointer).loadUnaligned(as: Float8.self)
}

@inline(__always)
func store8(_ v: Float8, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: v, as: Float8.self)
}

/// Applies `body` to `count` values eight at a time: out[i..<i+8] = body(inp…), the
/// last partial group padded with zeros, so every element goes through the same math.
@inline(__always)
func map8(count: Int, _ body: (Int, Float8) -> Float8, inp: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
    var i = 0
    while i + 8 <= count {
        store8(body(i, load8(inp + i)), out + i)
        i += 8
    }
    if i < count { storePartial(body(i, loadPartial(inp + i, count: count - i)), out + i, count: count - i) }
}

/// Vector operations other modules need, so that BLAS is called from Learning only.
public enum VectorMath {
    /// y ← y + a·x over `count` floats (`cblas_saxpy`): one term of a weighted sum of
    /// tensors.
    public static func addScaled(_ a: Float, _ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, count: Int) {
        cblas_saxpy(Int32(count), a, x, 1, y, 1)
    }
}
