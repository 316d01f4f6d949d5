// HalfPrecision: bit-exact conversions between Float and the two 16-bit formats that
// checkpoints use, IEEE binary16 (F16) and bfloat16 (BF16). Done on bits rather than
// with the `Float16` type, which is missing on some platforms (Intel macOS).

/// Conversions between `Float` and 16-bit float bit patterns.
public enum HalfPrecision {
    /// The Float with the value of the binary16 bit pattern `bits`. Exact for every
    /// input: subnormals, infinities, signed zeros; NaNs stay NaN with their payload.
    public static func float(fromF16 bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x03FF)
        if exponent == 0x1F {  // infinity or NaN
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        if exponent == 0 {
            // Zero or subnormal: mantissa · 2^-24, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    /// The binary16 bit pattern nearest to `value`, rounding ties to even. Values too
    /// large become infinity; values too small become subnormals or zero; NaN stays a
    /// (quiet) NaN.
    public static func f16Bits(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF)
        let mantissa = bits & 0x007F_FFFF
        if exponent == 0xFF {
            if mantissa == 0 { return sign | 0x7C00 }
            return sign | 0x7E00 | UInt16(truncatingIfNeeded: mantissa >> 13)
        }
        let halfExponent = exponent - 127 + 15
        if halfExponent >= 0x1F { return sign | 0x7C00 }
        if halfExponent <= 0 {
            // Subnormal half (or zero): shift the full significand into place.
            if halfExponent < -10 { return sign }
            let significand = mantissa | 0x0080_0000
            let shift = UInt32(14 - halfExponent)
            return sign | UInt16(roundShift(significand, by: shift))
        }
        // Normal: drop 13 mantissa bits; a carry out of the mantissa bumps the
        // exponent, which may reach infinity, as it should.
        let combined = (UInt32(halfExponent) << 23) | mantissa
        return sign | UInt16(roundShift(combined, by: 13))
    }

    /// The Float with the value of the bfloat16 bit pattern `bits` (always exact).
    public static func float(fromBF16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// The bfloat16 bit pattern nearest to `value`, rounding ties to even; NaN stays NaN.
    public static func bf16Bits(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x0040 }
        return UInt16(roundShift(bits, by: 16))
    }

    /// `value >> shift`, rounded to nearest with ties to even.
    private static func roundShift(_ value: UInt32, by shift: UInt32) -> UInt32 {
        let kept = value >> shift
        let remainder = value & ((1 << shift) - 1)
        let half: UInt32 = 1 << (shift - 1)
        if remainder > half || (remainder == half && kept & 1 == 1) { return kept + 1 }
        return kept
    }
}
