import Foundation
import Testing

@testable import Learning

@Suite struct TextDatasetTests {
    let dataset = TextDataset(tokens: (0..<10_000).map { Int32($0 % 50_000) })

    @Test func splitIsDeterministicForASeed() throws {
        let a = try dataset.split(sequenceLength: 16, seed: 9)
        let b = try dataset.split(sequenceLength: 16, seed: 9)
        let c = try dataset.split(sequenceLength: 16, seed: 10)
        #expect(a.train.chunks == b.train.chunks && a.trust.chunks == b.trust.chunks && a.test.chunks == b.test.chunks)
        #expect(a.train.chunks != c.train.chunks)
    }

    @Test func partsAreDisjointAndCoverEveryToken() throws {
        for (length, chunk) in [(16, nil), (7, 8), (100, 333)] as [(Int, Int?)] {
            let splits = try dataset.split(fractions: SplitFractions(train: 0.7, trust: 0.2, test: 0.1), sequenceLength: length, chunkLength: chunk, seed: 1)
            var covered = [Int](repeating: 0, count: dataset.tokens.count)
            for part in [splits.train, splits.trust, splits.test] {
                #expect(!part.chunks.isEmpty)
                #expect(part.chunks == part.chunks.sorted { $0.lowerBound < $1.lowerBound })
                for chunk in part.chunks {
                    #expect(chunk.count >= length + 1)
                    for i in chunk { covered[i] += 1 }
                }
            }
            #expect(covered.allSatisfy { $0 == 1 })
        }
    }

    @Test func fractionsSetTheShareOfChunks() throws {
        let splits = try dataset.split(fractions: SplitFractions(train: 0.8, trust: 0.1, test: 0.1), sequenceLength: 9, chunkLength: 100, seed: 0)
        #expect(splits.train.chunks.count == 80)
        #expect(splits.trust.chunks.count == 10)
        #expect(splits.test.chunks.count == 10)
    }

    @Test func shortTailJoinsTheLastChunk() throws {
        let data = TextDataset(tokens: [Int32](repeating: 1, count: 105))
        let splits = try data.split(fractions: SplitFractions(train: 1, trust: 0, test: 0), sequenceLength: 9, chunkLength: 50, seed: 0)
        #expect(splits.train.chunks == [0..<50, 50..<105])
        #expect(splits.trust.chunks.isEmpty && splits.test.chunks.isEmpty)
    }

    @Test func tooLittleTextIsAnError() {
        #expect(throws: DatasetError.tooSmall(part: "whole", tokens: 5, needed: 9)) {
            try TextDataset(tokens: [1, 2, 3, 4, 5]).split(sequenceLength: 8)
        }
        // Three chunks: one each would fit 0.34/0.33/0.33, but 0.9/0.05/0.05 leaves trust empty.
        #expect(throws: DatasetError.tooSmall(part: "trust", tokens: 1, needed: 10)) {
            try TextDataset(tokens: [Int32](repeating: 0, count: 30)).split(fractions: SplitFractions(train: 0.9, trust: 0.05, test: 0.05), sequenceLength: 9, chunkLength: 10)
        }
    }

    @Test func invalidSplitArgumentsAreErrors() {
        #expect(throws: DatasetError.invalidSplit("fractions [0.5, 0.5, 0.5] must be non-negative and sum to 1")) {
            try dataset.split(fractions: SplitFractions(train: 0.5, trust: 0.5, test: 0.5), sequenceLength: 8)
        }
        #expect(throws: DatasetError.invalidSplit("chunk length 8 is shorter than one sequence plus its target (9)")) {
            try dataset.split(sequenceLength: 8, chunkLength: 8)
        }
    }

    @Test func loadsAFolderOfTextFilesInNameOrder() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try FileSystem.writeAtomically(Array("second".utf8), to: folder.file("b.txt"))
        try FileSystem.writeAtomically(Array("first ".utf8), to: folder.file("a.txt"))
        try FileSystem.writeAtomically(Array("ignored".utf8), to: folder.file("notes.md"))
        try FileSystem.writeAtomically(Array("hidden".utf8), to: folder.file(".c.txt"))
        let bytes = try TextDataset.load(from: folder.path, tokenizer: ByteTokenizer())
        #expect(ByteTokenizer().decode(bytes.tokens) == "first second")
        let single = try TextDataset.load(from: folder.file("b.txt"), tokenizer: ByteTokenizer())
        #expect(single.tokens == ByteTokenizer().encode("second"))
    }

    @Test func documentsAreSeparatedByEndOfText() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try FileSystem.writeAtomically(Array("one".utf8), to: folder.file("1.txt"))
        try FileSystem.writeAtomically(Array("two".utf8), to: folder.file("2.txt"))
        let tokenizer = try GPT2TokenizerTests.fromVocabularyAndMerges()
        let data = try TextDataset.load(from: folder.path, tokenizer: tokenizer)
        #expect(data.tokens == tokenizer.encode("one<|endoftext|>two"))
    }

    @Test func emptyInputsAreErrors() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        #expect(throws: DatasetError.noTextFiles(path: folder.path)) { try TextDataset.load(from: folder.path, tokenizer: ByteTokenizer()) }
        try FileSystem.writeAtomically([], to: folder.file("empty.txt"))
        #expect(throws: DatasetError.empty(path: folder.path)) { try TextDataset.load(from: folder.path, tokenizer: ByteTokenizer()) }
        let missing = #expect(throws: DatasetError.self) { try TextDataset.load(from: folder.file("none.txt"), tokenizer: ByteTokenizer()) }
        guard case .file = missing else { Issue.record("expected a file error"); return }
    }
}

@Suite struct BatchSamplerTests {
    let dataset = TextDataset(tokens: (0..<5_000).map { Int32($0) })

    @Test func targetsAreInputsShiftedByOne() throws {
        let splits = try dataset.split(sequenceLength: 12, seed: 2)
        var sampler = try splits.train.sampler(batchSize: 4, seed: 3)
        for _ in 0..<20 {
            let batch = sampler.next()
            #expect(batch.inputs.count == 4 * 12 && batch.targets.count == 4 * 12)
            for b in 0..<4 {
                for t in 0..<12 {
                    // Tokens are their own positions here, so each window is consecutive.
                    #expect(batch.targets[b * 12 + t] == batch.inputs[b * 12 + t] + 1)
                }
            }
        }
    }

    @Test func windowsStayInsideTheirPart() throws {
        let splits = try dataset.split(sequenceLength: 12, chunkLength: 40, seed: 2)
        var sampler = try splits.trust.sampler(batchSize: 8, seed: 1)
        let allowed = Set(splits.trust.chunks.flatMap { Array($0) })
        var starts = Set<Int32>()
        for _ in 0..<200 {
            let batch = sampler.next()
            for b in 0..<8 {
                let window = batch.inputs[(b * 12)..<(b * 12 + 12)] + [batch.targets[b * 12 + 11]]
                #expect(window.allSatisfy { allowed.contains(Int($0)) })
                starts.insert(window.first!)
            }
        }
        // 200 batches of 8 reach most of the trust part's windows.
        #expect(starts.count > splits.trust.windowCount / 2)
    }

    @Test func sameSeedSameBatchesOtherSeedOtherBatches() throws {
        let split = try dataset.split(sequenceLength: 12, seed: 2).train
        var a = try split.sampler(batchSize: 4, seed: 7)
        var b = try split.sampler(batchSize: 4, seed: 7)
        var c = try split.sampler(batchSize: 4, seed: 8)
        var differs = false
        for _ in 0..<10 {
            let x = a.next()
            #expect(x == b.next())
            if x != c.next() { differs = true }
        }
        #expect(differs)
    }

    @Test func samplingAnEmptyPartIsAnError() throws {
        let splits = try dataset.split(fractions: SplitFractions(train: 0.9, trust: 0.1, test: 0), sequenceLength: 12)
        #expect(throws: DatasetError.tooSmall(part: "test", tokens: 0, needed: 13)) { try splits.test.sampler(batchSize: 2, seed: 0) }
        #expect(throws: DatasetError.invalidSplit("batch size 0 must be positive")) { try splits.train.sampler(batchSize: 0, seed: 0) }
    }

    @Test func sequentialBatchesVisitEveryWindowOnceInOrder() throws {
        let split = try dataset.split(sequenceLength: 10, chunkLength: 35, seed: 4).test
        let batches = Array(split.sequentialBatches(batchSize: 3))
        let windows = split.chunks.reduce(0) { $0 + ($1.count - 1) / 10 }
        #expect(batches.reduce(0) { $0 + $1.batchSize } == windows)
        #expect(batches.dropLast().allSatisfy { $0.batchSize == 3 })
        let firstInputs = batches.flatMap { batch in (0..<batch.batchSize).map { batch.inputs[$0 * 10] } }
        #expect(firstInputs == split.sequentialBatches(batchSize: 3).windowStarts.map(Int32.init))
        #expect(firstInputs == firstInputs.sorted())
        for batch in batches { #expect(zip(batch.inputs, batch.targets).allSatisfy { $1 == $0 + 1 }) }
    }

    @Test func aTokenBudgetTakesTheFirstWholeWindows() throws {
        let split = try dataset.split(sequenceLength: 10, chunkLength: 35, seed: 4).test
        let all = Array(split.sequentialBatches(batchSize: 3))
        let windows = all.reduce(0) { $0 + $1.batchSize }
        #expect(windows > 5)
        // 59 tokens hold 5 windows of 10: batches of 3 and 2, the same rows as the first 5 of all.
        let five = split.sequentialBatches(batchSize: 3, tokens: 59)
        #expect(five.map(\.batchSize) == [3, 2])
        #expect(five[0] == all[0])
        #expect(five[1].inputs == Array(all[1].inputs.prefix(20)) && five[1].targets == Array(all[1].targets.prefix(20)))
        // Fewer tokens than one window still score one; more than the split holds, all of it.
        #expect(split.sequentialBatches(batchSize: 3, tokens: 1).map(\.batchSize) == [1])
        #expect(split.sequentialBatches(batchSize: 3, tokens: 1_000_000) == all)
    }
}

@Suite struct SeededGeneratorTests {
    @Test func matchesTheSplitMix64ReferenceSequence() {
        // First outputs of SplitMix64 seeded with 1234567 (Vigna's reference C code).
        var generator = SeededGenerator(seed: 1_234_567)
        #expect(generator.next() == 6_457_827_717_110_365_317)
        #expect(generator.next() == 3_203_168_211_198_807_973)
        #expect(generator.next() == 9_817_491_932_198_370_423)
    }

    @Test func uniformStaysInRangeAndShuffleIsAPermutation() {
        var generator = SeededGenerator(seed: 1)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<7_000 { counts[generator.uniform(below: 7)] += 1 }
        #expect(counts.allSatisfy { (800...1200).contains($0) })
        var items = Array(0..<100)
        generator.shuffle(&items)
        #expect(items.sorted() == Array(0..<100))
        #expect(items != Array(0..<100))
    }
}
