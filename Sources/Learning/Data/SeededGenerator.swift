// SeededGenerator: a small deterministic random number generator (SplitMix64), with its
// own bounded draw and shuffle, so that a seed gives the same splits and batches on
// every platform and Swift version (the standard library promises neither).

/// SplitMix64 (Steele, Lea, Flood 2014): 64-bit state, passes BigCrush, trivially seeded.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `0..<bound` (bound > 0), by rejection so there is no bias:
    /// draws x until x ≥ (2⁶⁴ − bound) mod bound, then returns x mod bound. Reference
    /// batches are specified with this rule, so other implementations can repeat it.
    public mutating func uniform(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "bound must be positive")
        let threshold = (0 &- bound) % bound
        while true {
            let x = next()
            if x >= threshold { return x % bound }
        }
    }

    /// A uniform integer in `0..<bound` (bound > 0).
    public mutating func uniform(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        return Int(uniform(below: UInt64(bound)))
    }

    /// A uniform Float in [-1, 1) with 24 random bits.
    public mutating func nextSignedUnitFloat() -> Float {
        Float(Int64(bitPattern: next()) >> 40) / Float(1 << 23)
    }

    /// Shuffles `items` in place (Fisher–Yates, from the back).
    public mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(i, uniform(below: i + 1))
        }
    }
}
