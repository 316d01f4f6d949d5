// Every node derives the same reference batches from the same seed and text.

import Learning
import Testing

@testable import Trust

@Suite struct ReferenceBatchesTests {
    @Test func splitMix64MatchesItsPublishedSequence() {
        var g = SeededGenerator(seed: 0)
        #expect(g.next() == 0xE220_A839_7B1D_CDAF)
        #expect(g.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(g.next() == 0x06C4_5D18_8009_454F)
    }

    @Test func windowsStartWhereTheSpecifiedDrawsSay() throws {
        // 20 tokens, T = 4: starts uniform over 0...15; SplitMix64(42) draws give 5, 3, 2, 4
        // (worked out with an independent implementation of the documented derivation).
        let tokens = (0..<20).map { Int32($0 * 10) }
        let batches = try ReferenceBatches.derive(seed: 42, tokens: tokens, count: 2, batchSize: 2, sequenceLength: 4)
        #expect(batches.batches.count == 2)
        #expect(batches.positions == 16)
        #expect(batches.batches[0].inputs == [50, 60, 70, 80, 30, 40, 50, 60])
        #expect(batches.batches[0].targets == [60, 70, 80, 90, 40, 50, 60, 70])
        #expect(batches.batches[1].inputs == [20, 30, 40, 50, 40, 50, 60, 70])
        #expect(batches.batches[1].targets == [30, 40, 50, 60, 50, 60, 70, 80])
    }

    @Test func rejectionSamplingFollowsTheSpecification() {
        // m = 10: draws below 2⁶⁴ mod 10 = 6 are rejected; the independent reference gives 7, 4, 6.
        var g = SeededGenerator(seed: 7)
        #expect([g.uniform(below: 10), g.uniform(below: 10), g.uniform(below: 10)] == [7, 4, 6])
    }

    @Test func sameInputsSameBatchesOtherSeedOtherBatches() throws {
        let tokens = (0..<1000).map { Int32($0 % 251) }
        let a = try ReferenceBatches.derive(seed: 9, tokens: tokens, batchSize: 3, sequenceLength: 16)
        let b = try ReferenceBatches.derive(seed: 9, tokens: tokens, batchSize: 3, sequenceLength: 16)
        let c = try ReferenceBatches.derive(seed: 10, tokens: tokens, batchSize: 3, sequenceLength: 16)
        #expect(a == b)
        #expect(a.batches != c.batches)
        #expect(a.batches.count == 4)
    }

    @Test func theShortestTextHasOneWindow() throws {
        let batches = try ReferenceBatches.derive(seed: 1, tokens: [1, 2, 3], count: 1, batchSize: 2, sequenceLength: 2)
        #expect(batches.batches[0].inputs == [1, 2, 1, 2])
        #expect(batches.batches[0].targets == [2, 3, 2, 3])
    }

    @Test func refusesTooShortTextAndEmptySizes() {
        #expect(throws: ReferenceBatches.DerivationError.tooFewTokens(have: 4, need: 5)) {
            try ReferenceBatches.derive(seed: 1, tokens: [1, 2, 3, 4], batchSize: 1, sequenceLength: 4)
        }
        #expect(throws: ReferenceBatches.DerivationError.badSize("batch size must be at least 1")) {
            try ReferenceBatches.derive(seed: 1, tokens: [1, 2, 3, 4], batchSize: 0, sequenceLength: 2)
        }
    }
}
