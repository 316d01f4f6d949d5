// Selecting each position's top-k logits and comparing two models through them.

import Testing

@testable import Trust

@Suite struct TopKLogitsTests {
    @Test func keepsTheLargestWithTiesToTheSmallerIndexSortedByIndex() {
        // position 0: 5 at 1, then 4 at 3 and 4 at 4 tie: 3 wins.
        // position 1: 9 at 4, 8 at 0.
        let top = TopKLogits(logits: [0.1, 5, -1, 4, 4, 8, 0, 0, 0, 9], vocabularySize: 5, k: 2)
        #expect(top.positions == 2)
        #expect(top.indices == [1, 3, 0, 4])
        #expect(top.values == [5, 4, 8, 9])
    }

    @Test func kEqualToTheVocabularyKeepsEverything() {
        let top = TopKLogits(logits: [3, 1, 2], vocabularySize: 3, k: 3)
        #expect(top.indices == [0, 1, 2])
        #expect(top.values == [3, 1, 2])
    }

    @Test func selectionMatchesAFullSort() {
        let vocabulary = 97, positions = 6, k = 10
        let logits = (0..<(vocabulary * positions)).map { noise($0, seed: 3) * 4 }
        let top = TopKLogits(logits: logits, vocabularySize: vocabulary, k: k)
        for p in 0..<positions {
            let row = Array(logits[(p * vocabulary)..<((p + 1) * vocabulary)])
            let expected = row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(k).sorted()
            #expect(top.indices[(p * k)..<((p + 1) * k)].map(Int.init) == Array(expected))
        }
    }

    @Test func distanceEqualsTheDenseL1OfZeroedLogits() {
        // The reference: zero every logit outside a model's own top-k, then sum |a − b|
        // over the vocabulary, averaged over positions.
        let vocabulary = 50, positions = 5, k = 7
        let a = (0..<(vocabulary * positions)).map { noise($0, seed: 11) * 3 }
        let b = (0..<(vocabulary * positions)).map { i in i % 3 == 0 ? a[i] : noise(i, seed: 12) * 3 }
        let topA = TopKLogits(logits: a, vocabularySize: vocabulary, k: k)
        let topB = TopKLogits(logits: b, vocabularySize: vocabulary, k: k)
        func dense(_ top: TopKLogits) -> [Float] {
            var out = [Float](repeating: 0, count: vocabulary * positions)
            for e in 0..<(positions * k) { out[(e / k) * vocabulary + Int(top.indices[e])] = top.values[e] }
            return out
        }
        let expected = zip(dense(topA), dense(topB)).reduce(0.0) { $0 + Double(abs($1.0 - $1.1)) } / Double(positions)
        #expect(abs(PredictionDistance.distance(topA, topB) - expected) < 1e-4)
        #expect(PredictionDistance.distance(topA, topB) > 0)
    }
}
