import Testing

@testable import Learning

@Suite struct HalfPrecisionTests {
    @Test func f16DecodesKnownPatterns() {
        #expect(HalfPrecision.float(fromF16: 0x0000) == 0)
        #expect(HalfPrecision.float(fromF16: 0x8000).sign == .minus)
        #expect(HalfPrecision.float(fromF16: 0x8000) == 0)
        #expect(HalfPrecision.float(fromF16: 0x3C00) == 1)
        #expect(HalfPrecision.float(fromF16: 0xC100) == -2.5)
        #expect(HalfPrecision.float(fromF16: 0x7BFF) == 65504)
        #expect(HalfPrecision.float(fromF16: 0x0001) == 0x1p-24)  // smallest subnormal
        #expect(HalfPrecision.float(fromF16: 0x03FF) == 1023 * 0x1p-24)  // largest subnormal
        #expect(HalfPrecision.float(fromF16: 0x0400) == 0x1p-14)  // smallest normal
        #expect(HalfPrecision.float(fromF16: 0x7C00) == .infinity)
        #expect(HalfPrecision.float(fromF16: 0xFC00) == -.infinity)
        #expect(HalfPrecision.float(fromF16: 0x7E00).isNaN)
        #expect(HalfPrecision.float(fromF16: 0x7C01).isNaN)
    }

    @Test func f16EncodesWithRoundingToNearestEven() {
        #expect(HalfPrecision.f16Bits(from: 1) == 0x3C00)
        #expect(HalfPrecision.f16Bits(from: -0.0) == 0x8000)
        #expect(HalfPrecision.f16Bits(from: 65504) == 0x7BFF)
        #expect(HalfPrecision.f16Bits(from: 65520) == 0x7C00)  // halfway to the next binade: ties to even = infinity
        #expect(HalfPrecision.f16Bits(from: 65519) == 0x7BFF)
        #expect(HalfPrecision.f16Bits(from: 1e10) == 0x7C00)
        #expect(HalfPrecision.f16Bits(from: -.infinity) == 0xFC00)
        #expect(HalfPrecision.float(fromF16: HalfPrecision.f16Bits(from: .nan)).isNaN)
        #expect(HalfPrecision.f16Bits(from: 0x1p-24) == 0x0001)
        #expect(HalfPrecision.f16Bits(from: 0x1p-25) == 0x0000)  // tie between 0 and 1 ulp: even is 0
        #expect(HalfPrecision.f16Bits(from: 0x1.8p-25) == 0x0001)
        #expect(HalfPrecision.f16Bits(from: 3 * 0x1p-25) == 0x0002)  // 1.5 ulp ties to 2
        #expect(HalfPrecision.f16Bits(from: 1e-9) == 0x0000)
        #expect(HalfPrecision.f16Bits(from: 1 + 0x1p-11) == 0x3C00)  // tie, even stays
        #expect(HalfPrecision.f16Bits(from: 1 + 3 * 0x1p-11) == 0x3C02)  // tie, rounds up to even
        #expect(HalfPrecision.f16Bits(from: 0x1.ffcp-15) == 0x0400)  // subnormal rounding up into the normals
    }

    @Test func everyF16PatternRoundTrips() {
        for bits in UInt16.min...UInt16.max {
            let value = HalfPrecision.float(fromF16: bits)
            if value.isNaN {
                #expect(HalfPrecision.float(fromF16: HalfPrecision.f16Bits(from: value)).isNaN)
            } else if HalfPrecision.f16Bits(from: value) != bits {
                Issue.record("f16 \(String(bits, radix: 16)) → \(value) → \(String(HalfPrecision.f16Bits(from: value), radix: 16))")
            }
        }
    }

    #if !(os(macOS) && arch(x86_64))
    /// The standard library's Float16 is an independent reference where it exists.
    @Test func matchesTheStandardFloat16() {
        for bits in UInt16.min...UInt16.max {
            let reference = Float(Float16(bitPattern: bits))
            let value = HalfPrecision.float(fromF16: bits)
            if !(value == reference || (value.isNaN && reference.isNaN)) {
                Issue.record("decode \(bits): \(value) vs \(reference)")
            }
        }
        var generator = SeededGenerator(seed: 3)
        for _ in 0..<200_000 {
            // Random bit patterns cover every exponent, subnormals and ties included.
            let value = Float(bitPattern: UInt32(truncatingIfNeeded: generator.next()))
            if value.isNaN { continue }
            let reference = Float16(value).bitPattern
            if HalfPrecision.f16Bits(from: value) != reference {
                Issue.record("encode \(value): \(HalfPrecision.f16Bits(from: value)) vs \(reference)")
            }
        }
    }
    #endif

    @Test func bf16KeepsTheUpperHalfOfAFloat() {
        #expect(HalfPrecision.float(fromBF16: 0x3F80) == 1)
        #expect(HalfPrecision.float(fromBF16: 0xC020) == -2.5)
        #expect(HalfPrecision.float(fromBF16: 0x7F80) == .infinity)
        #expect(HalfPrecision.float(fromBF16: 0xFF80) == -.infinity)
        #expect(HalfPrecision.float(fromBF16: 0x7FC0).isNaN)
        #expect(HalfPrecision.float(fromBF16: 0x0001) == Float(bitPattern: 0x0001_0000))  // subnormal
        #expect(HalfPrecision.bf16Bits(from: 1) == 0x3F80)
        #expect(HalfPrecision.bf16Bits(from: Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie, even stays
        #expect(HalfPrecision.bf16Bits(from: Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie, up to even
        #expect(HalfPrecision.bf16Bits(from: Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(HalfPrecision.bf16Bits(from: .greatestFiniteMagnitude) == 0x7F80)
        #expect(HalfPrecision.float(fromBF16: HalfPrecision.bf16Bits(from: .nan)).isNaN)
    }
}
