// SeededRandom: the deterministic random numbers of initialisation and dropout.

import Foundation

/// xoshiro256** seeded through SplitMix64: the same seed gives the same stream on
/// every platform, which `SystemRandomNumberGenerator` does not.
public struct SeededRandom: RandomNumberGenerator {
    private var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var state = seed
        s0 = SeededRandom.splitMix(&state)
        s1 = SeededRandom.splitMix(&state)
        s2 = SeededRandom.splitMix(&state)
        s3 = SeededRandom.splitMix(&state)
    }

    /// One step of SplitMix64: advances `state` and returns a well-mixed 64-bit value.
    static func splitMix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return mix(state)
    }

    /// The SplitMix64 finaliser: a bijective scramble of 64 bits.
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform Float in [low, high).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(nextUnit())
    }

    /// Fills `values` with normal(0, std) numbers by the Box-Muller transform.
    public mutating func fillNormal(_ values: UnsafeMutableBufferPointer<Float>, std: Float) {
        var index = 0
        while index < values.count {
            let u1 = 1 - nextUnit()  // in (0, 1], so the log is finite
            let u2 = nextUnit()
            let radius = (-2 * log(u1)).squareRoot()
            let angle = 2 * Double.pi * u2
            values[index] = Float(radius * cos(angle)) * std
            if index + 1 < values.count { values[index + 1] = Float(radius * sin(angle)) * std }
            index += 2
        }
    }
}

/// A dropout mask over a (rows, width) tensor that is a pure function of (seed,
/// stream, row, column): forward and backward regenerate the same mask without storing
/// it, in any thread order. Each row draws its own SplitMix64 stream, and every 64-bit
/// draw decides four columns by comparing 16-bit slices with keep · 2¹⁶ (so the keep
/// probability is rounded to a multiple of 2⁻¹⁶).
struct DropoutMask {
    /// Probability of keeping a value.
    let keep: Float
    private let key: UInt64
    private let threshold: UInt64

    init(seed: UInt64, stream: UInt64, keep: Float) {
        self.keep = keep
        key = seed ^ SeededRandom.mix(stream &+ 0x9E37_79B9_7F4A_7C15)
        threshold = UInt64((Double(keep) * 65536).rounded())
    }

    /// Calls `body(column, kept)` for the columns 0..<width of `row`, in order.
    @inline(__always)
    func forEachDecision(row: Int, width: Int, _ body: (Int, Bool) -> Void) {
        var state = SeededRandom.mix(key &+ UInt64(row))
        var column = 0
        while column < width {
            var bits = SeededRandom.splitMix(&state)
            for _ in 0..<min(4, width - column) {
                body(column, bits & 0xFFFF < threshold)
                bits >>= 16
                column += 1
            }
        }
    }

    /// Whether element (row, column) survives (slow; for checks).
    func keeps(row: Int, column: Int) -> Bool {
        var kept = false
        forEachDecision(row: row, width: column + 1) { c, k in if c == column { kept = k } }
        return kept
    }

    /// Multipliers (1/keep or 0) for the next eight columns: two draws, each split into
    /// four 16-bit slices in the order `forEachDecision` uses them.
    @inline(__always)
    private func multipliers8(_ state: inout UInt64, scale: Float) -> Float8 {
        let first = SeededRandom.splitMix(&state), second = SeededRandom.splitMix(&state)
        let slices = SIMD8<UInt32>(truncatingIfNeeded: unsafeBitCast(SIMD2<UInt64>(first, second), to: SIMD8<UInt16>.self))
        return Float8(repeating: 0).replacing(with: scale, where: slices .< SIMD8<UInt32>(repeating: UInt32(threshold)))
    }

    /// Calls `body(column, multipliers)` for each group of eight columns of `row`, then
    /// `tail(column, kept)` for the columns past the last whole group.
    @inline(__always)
    private func forEachGroup(row: Int, width: Int, _ body: (Int, Float8) -> Void, tail: (Int, Bool) -> Void) {
        let scale = 1 / keep
        var state = SeededRandom.mix(key &+ UInt64(row))
        var column = 0
        while column + 8 <= width {
            body(column, multipliers8(&state, scale: scale))
            column += 8
        }
        while column < width {
            var bits = SeededRandom.splitMix(&state)
            for _ in 0..<min(4, width - column) {
                tail(column, bits & 0xFFFF < threshold)
                bits >>= 16
                column += 1
            }
        }
    }

    /// out = inp ⊙ mask / keep over `rows` of a (rows, width) tensor.
    func apply(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows: Range<Int>, width: Int) {
        let scale = 1 / keep
        for row in rows {
            let o = out + row * width, x = inp + row * width
            forEachGroup(row: row, width: width, { c, m in store8(load8(x + c) * m, o + c) },
                         tail: { c, kept in o[c] = kept ? x[c] * scale : 0 })
        }
    }

    /// dinp += dout ⊙ mask / keep over `rows` of a (rows, width) tensor.
    func accumulateGradient(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, rows: Range<Int>, width: Int) {
        let scale = 1 / keep
        for row in rows {
            let d = dinp + row * width, g = dout + row * width
            forEachGroup(row: row, width: width, { c, m in store8(load8(d + c) + load8(g + c) * m, d + c) },
                         tail: { c, kept in if kept { d[c] += g[c] * scale } })
        }
    }
}
