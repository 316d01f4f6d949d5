// TextDataset: a node's own text, tokenized once, and its split into train / trust / test.
//
// The split cuts the token stream into chunks of `chunkLength` consecutive tokens (the
// short tail joins the last chunk), shuffles the chunk indices with the seed, and gives
// the first chunks of the shuffled order to train, the next to trust, the rest to test.
// Every window a sampler draws lies inside one chunk, so no token of a trust or test
// chunk ever appears in a training sequence: the parts are disjoint, together cover
// every token, and come out the same for the same text, tokenizer and seed. Shuffling
// chunks rather than cutting the stream in three keeps each part spread over the whole
// text (a folder of different documents does not end up with one document as its test).

/// A split that cannot be made or a text that cannot be read.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    /// The path is a folder without `.txt` files.
    case noTextFiles(path: String)
    /// The text has no tokens.
    case empty(path: String)
    /// Fractions negative, not summing to 1, or a chunk shorter than one sequence.
    case invalidSplit(String)
    /// A part with a positive fraction got no chunk, or the text has fewer tokens than
    /// one sequence needs.
    case tooSmall(part: String, tokens: Int, needed: Int)
    /// A file could not be read.
    case file(FileError)

    public var description: String {
        switch self {
        case .noTextFiles(let path): return "\(path): folder has no .txt files"
        case .empty(let path): return "\(path): no text"
        case .invalidSplit(let reason): return "invalid split: \(reason)"
        case .tooSmall(let part, let tokens, let needed):
            return "the \(part) part is too small: \(tokens) tokens where at least \(needed) are needed; give more text or change the fractions"
        case .file(let error): return error.description
        }
    }
}

/// The token stream of a node's text.
public struct TextDataset: Sendable {
    /// Every token, documents in file name order.
    public let tokens: [Int32]

    public init(tokens: [Int32]) { self.tokens = tokens }

    /// Reads a text file, or every `.txt` file of a folder sorted by name (hidden files
    /// skipped), and tokenizes each once. Documents are joined by the tokenizer's
    /// end-of-text token when it has one, and directly otherwise.
    public static func load(from path: String, tokenizer: some Tokenizer) throws(DatasetError) -> TextDataset {
        var files: [String]
        if FileSystem.isDirectory(path) {
            do {
                files = try FileSystem.contentsOfDirectory(path)
                    .filter { $0.hasSuffix(".txt") && !$0.hasPrefix(".") }
                    .map { FileSystem.join(path, $0) }
                    .filter { !FileSystem.isDirectory($0) }
            } catch { throw .file(error) }
            if files.isEmpty { throw .noTextFiles(path: path) }
        } else {
            files = [path]
        }
        var tokens: [Int32] = []
        for (index, file) in files.enumerated() {
            let text: String
            do { text = try FileSystem.readText(file) } catch { throw .file(error) }
            if index > 0, let separator = tokenizer.endOfTextToken, !tokens.isEmpty { tokens.append(separator) }
            tokens += tokenizer.encode(text)
        }
        if tokens.isEmpty { throw .empty(path: path) }
        return TextDataset(tokens: tokens)
    }

    /// Splits the tokens into train / trust / test parts as described at the top.
    /// - Parameters:
    ///   - fractions: shares of chunks for each part, non-negative, summing to 1.
    ///   - sequenceLength: T; every chunk must hold at least T + 1 tokens.
    ///   - chunkLength: tokens per chunk, at least T + 1 (4 (T + 1) by default).
    ///   - seed: the chunk shuffle's seed.
    public func split(
        fractions: SplitFractions = SplitFractions(), sequenceLength: Int, chunkLength: Int? = nil, seed: UInt64 = 0
    ) throws(DatasetError) -> DatasetSplits {
        guard sequenceLength >= 1 else { throw .invalidSplit("sequence length \(sequenceLength) must be positive") }
        let chunk = chunkLength ?? 4 * (sequenceLength + 1)
        guard chunk >= sequenceLength + 1 else {
            throw .invalidSplit("chunk length \(chunk) is shorter than one sequence plus its target (\(sequenceLength + 1))")
        }
        let parts = [fractions.train, fractions.trust, fractions.test]
        guard parts.allSatisfy({ $0 >= 0 && $0.isFinite }), abs(parts.reduce(0, +) - 1) < 1e-9 else {
            throw .invalidSplit("fractions \(parts) must be non-negative and sum to 1")
        }
        guard tokens.count >= sequenceLength + 1 else {
            throw .tooSmall(part: "whole", tokens: tokens.count, needed: sequenceLength + 1)
        }
        // Chunks of `chunk` tokens; a tail shorter than one sequence joins the last chunk.
        var chunks: [Range<Int>] = stride(from: 0, to: tokens.count, by: chunk).map { $0..<min($0 + chunk, tokens.count) }
        if chunks.count > 1, chunks.last!.count < sequenceLength + 1 {
            let tail = chunks.removeLast()
            chunks[chunks.count - 1] = chunks[chunks.count - 1].lowerBound..<tail.upperBound
        }
        var order = Array(chunks.indices)
        var generator = SeededGenerator(seed: seed)
        generator.shuffle(&order)

        let trainCount = Int((fractions.train * Double(chunks.count)).rounded(.down))
        let trustCount = Int((fractions.trust * Double(chunks.count)).rounded(.down))
        var counts = [trainCount, trustCount, chunks.count - trainCount - trustCount]
        if fractions.test == 0 {
            // No test part: its share of the rounding goes to train.
            counts[0] += counts[2]
            counts[2] = 0
        }
        let names = ["train", "trust", "test"]
        var result: [DatasetSplit] = []
        var next = 0
        for part in 0..<3 {
            if parts[part] > 0 && counts[part] == 0 {
                throw .tooSmall(part: names[part], tokens: Int(parts[part] * Double(tokens.count)), needed: chunk)
            }
            let assigned = order[next..<(next + counts[part])].sorted().map { chunks[$0] }
            next += counts[part]
            result.append(DatasetSplit(name: names[part], tokens: tokens, chunks: assigned, sequenceLength: sequenceLength))
        }
        return DatasetSplits(train: result[0], trust: result[1], test: result[2])
    }
}

/// The shares of the train, trust and test parts.
public struct SplitFractions: Sendable, Equatable {
    public var train: Double
    public var trust: Double
    public var test: Double

    public init(train: Double = 0.8, trust: Double = 0.1, test: Double = 0.1) {
        self.train = train
        self.trust = trust
        self.test = test
    }
}

/// The three parts of a dataset.
public struct DatasetSplits: Sendable {
    /// Local training.
    public let train: DatasetSplit
    /// Scoring peers (validation-based trust).
    public let trust: DatasetSplit
    /// Reporting only.
    public let test: DatasetSplit
}

/// One part of a dataset: chunks of the shared token stream, in stream order.
public struct DatasetSplit: Sendable {
    public let name: String
    /// The dataset's whole token stream (shared, not copied).
    public let tokens: [Int32]
    /// The ranges of `tokens` that belong to this part, in increasing order.
    public let chunks: [Range<Int>]
    /// T, the length of every sequence drawn from this part.
    public let sequenceLength: Int

    /// Number of tokens in this part.
    public var tokenCount: Int { chunks.reduce(0) { $0 + $1.count } }

    /// Number of distinct windows of T + 1 tokens that fit inside the chunks.
    public var windowCount: Int { chunks.reduce(0) { $0 + max(0, $1.count - sequenceLength) } }

    /// A seeded sampler of random training batches of `batchSize` sequences.
    public func sampler(batchSize: Int, seed: UInt64) throws(DatasetError) -> BatchSampler {
        try BatchSampler(split: self, batchSize: batchSize, seed: seed)
    }

    /// Every non-overlapping window in order, in batches of up to `batchSize` sequences,
    /// for evaluation.
    public func sequentialBatches(batchSize: Int) -> SequentialBatches {
        SequentialBatches(split: self, batchSize: batchSize)
    }

    /// The first windows of the split in order, as many as `tokens` predicted tokens hold
    /// (at least one window), in batches of up to `batchSize`.
    public func sequentialBatches(batchSize: Int, tokens: Int) -> [TokenBatch] {
        SequentialBatches(split: self, batchSize: batchSize, maxWindows: Swift.max(1, tokens / sequenceLength)).map { $0 }
    }
}
