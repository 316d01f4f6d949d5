// The reference batches of the `prediction` strategy: the same token windows on every
// node that holds the same reference text, so that their models' predictions compare.

import Learning

/// Token windows cut from a shared reference sequence by a seeded generator.
///
/// Every node derives them itself, identically: given the same seed, token sequence and
/// sizes, `derive` returns the same batches on any machine. The derivation, so that any
/// implementation can reproduce it:
/// - the generator is SplitMix64 started at `seed`: each draw adds 0x9E3779B97F4A7C15 to
///   the state (wrapping) and returns z = state, z = (z ^ (z >> 30)) · 0xBF58476D1CE4E5B9,
///   z = (z ^ (z >> 27)) · 0x94D049BB133111EB, z ^ (z >> 31);
/// - a window start is uniform over 0 ... n − T − 1 (n tokens, T the sequence length),
///   m = n − T values, drawn by rejection: repeat drawing x until x ≥ (2⁶⁴ − m) mod m,
///   then take x mod m;
/// - batch b, row r holds inputs `tokens[s ..< s+T]` and targets `tokens[s+1 ... s+T]`
///   for the (b·B + r)-th start s drawn.
///
/// The reference code draws 4 batches (`count`) with the training batch size.
public struct ReferenceBatches: Sendable, Equatable {
    /// One batch: `inputs` and `targets` are `(B, T)` row-major; targets are the inputs
    /// shifted by one token.
    public struct Batch: Sendable, Equatable {
        public var inputs: [Int32]
        public var targets: [Int32]
    }

    public let seed: UInt64
    public let batchSize: Int
    public let sequenceLength: Int
    public let batches: [Batch]

    /// Number of positions over all batches: count · B · T.
    public var positions: Int { batches.count * batchSize * sequenceLength }

    /// Why batches could not be derived.
    public enum DerivationError: Error, Equatable, CustomStringConvertible {
        case tooFewTokens(have: Int, need: Int)
        case badSize(String)

        public var description: String {
            switch self {
            case .tooFewTokens(let have, let need): "reference text has \(have) tokens; at least \(need) are needed"
            case .badSize(let what): "reference batches: \(what)"
            }
        }
    }

    /// Derives `count` batches of `batchSize` windows of `sequenceLength` tokens from
    /// `tokens`, deterministically from `seed` (see the type's documentation).
    public static func derive(seed: UInt64, tokens: [Int32], count: Int = 4, batchSize: Int, sequenceLength: Int) throws(DerivationError) -> ReferenceBatches {
        guard count >= 1 else { throw .badSize("count must be at least 1") }
        guard batchSize >= 1 else { throw .badSize("batch size must be at least 1") }
        guard sequenceLength >= 1 else { throw .badSize("sequence length must be at least 1") }
        guard tokens.count >= sequenceLength + 1 else {
            throw .tooFewTokens(have: tokens.count, need: sequenceLength + 1)
        }
        var generator = SeededGenerator(seed: seed)
        let starts = UInt64(tokens.count - sequenceLength)
        var batches: [Batch] = []
        for _ in 0..<count {
            var inputs: [Int32] = [], targets: [Int32] = []
            inputs.reserveCapacity(batchSize * sequenceLength)
            targets.reserveCapacity(batchSize * sequenceLength)
            for _ in 0..<batchSize {
                let s = Int(generator.uniform(below: starts))
                inputs += tokens[s ..< s + sequenceLength]
                targets += tokens[s + 1 ... s + sequenceLength]
            }
            batches.append(Batch(inputs: inputs, targets: targets))
        }
        return ReferenceBatches(seed: seed, batchSize: batchSize, sequenceLength: sequenceLength, batches: batches)
    }
}
