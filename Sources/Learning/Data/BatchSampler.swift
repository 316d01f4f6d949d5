// BatchSampler: (inputs, targets) batches of shape (B, T) drawn from one dataset part,
// targets being the inputs shifted by one token. Random windows for training, seeded;
// consecutive non-overlapping windows for evaluation.

/// Random windows of T + 1 tokens from a split, each window inside one chunk, every
/// window equally likely; the same seed gives the same batches.
public struct BatchSampler: Sendable {
    public let split: DatasetSplit
    public let batchSize: Int
    private var generator: SeededGenerator
    /// Running totals of windows per chunk, to pick a window uniformly.
    private let cumulativeWindows: [Int]

    /// Throws when `batchSize` is not positive or the split is empty (a part whose
    /// fraction was zero).
    public init(split: DatasetSplit, batchSize: Int, seed: UInt64) throws(DatasetError) {
        guard batchSize >= 1 else { throw .invalidSplit("batch size \(batchSize) must be positive") }
        guard split.windowCount >= 1 else {
            throw .tooSmall(part: split.name, tokens: split.tokenCount, needed: split.sequenceLength + 1)
        }
        self.split = split
        self.batchSize = batchSize
        generator = SeededGenerator(seed: seed)
        var total = 0
        cumulativeWindows = split.chunks.map { chunk in
            total += max(0, chunk.count - split.sequenceLength)
            return total
        }
    }

    /// The next batch.
    public mutating func next() -> TokenBatch {
        let t = split.sequenceLength
        var inputs: [Int32] = []
        var targets: [Int32] = []
        inputs.reserveCapacity(batchSize * t)
        targets.reserveCapacity(batchSize * t)
        for _ in 0..<batchSize {
            let window = generator.uniform(below: cumulativeWindows.last!)
            // First chunk whose running total exceeds the window index.
            var low = 0
            var high = cumulativeWindows.count - 1
            while low < high {
                let middle = (low + high) / 2
                if cumulativeWindows[middle] > window { high = middle } else { low = middle + 1 }
            }
            let before = low == 0 ? 0 : cumulativeWindows[low - 1]
            let start = split.chunks[low].lowerBound + (window - before)
            inputs += split.tokens[start..<(start + t)]
            targets += split.tokens[(start + 1)..<(start + t + 1)]
        }
        return TokenBatch(inputs: inputs, targets: targets, batchSize: batchSize, sequenceLength: t)
    }
}

/// The windows of a split in order: in each chunk, windows of T + 1 tokens starting every
/// T tokens (so every token but a chunk's last few is predicted exactly once), grouped
/// into batches of up to B sequences; the last batch may be smaller.
public struct SequentialBatches: Sequence, Sendable {
    public let split: DatasetSplit
    public let batchSize: Int
    /// Windows taken at most, from the start; nil: all of them.
    public let maxWindows: Int?

    public init(split: DatasetSplit, batchSize: Int, maxWindows: Int? = nil) {
        self.split = split
        self.batchSize = batchSize
        self.maxWindows = maxWindows
    }

    /// Start offsets of every window, in order.
    public var windowStarts: [Int] {
        let t = split.sequenceLength
        let all = split.chunks.lazy.flatMap { chunk in
            stride(from: chunk.lowerBound, through: chunk.upperBound - t - 1, by: t)
        }
        return Array(all.prefix(maxWindows ?? Int.max))
    }

    public func makeIterator() -> Iterator {
        precondition(batchSize >= 1, "batch size must be positive")
        return Iterator(split: split, batchSize: batchSize, starts: windowStarts)
    }

    public struct Iterator: IteratorProtocol {
        let split: DatasetSplit
        let batchSize: Int
        let starts: [Int]
        var position = 0

        public mutating func next() -> TokenBatch? {
            guard position < starts.count else { return nil }
            let t = split.sequenceLength
            let rows = starts[position..<Swift.min(position + batchSize, starts.count)]
            position += rows.count
            var inputs: [Int32] = []
            var targets: [Int32] = []
            for start in rows {
                inputs += split.tokens[start..<(start + t)]
                targets += split.tokens[(start + 1)..<(start + t + 1)]
            }
            return TokenBatch(inputs: inputs, targets: targets, batchSize: rows.count, sequenceLength: t)
        }
    }
}
