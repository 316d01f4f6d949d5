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

    /// Both ways of selecting (by threshold where k is a large part of the vocabulary,
    /// by heap otherwise) keep what a full sort keeps, with ties and NaNs in the rows:
    /// larger logit first, a NaN below every number, equal logits to the smaller index.
    @Test(arguments: [(256, 100), (64, 60), (50, 7), (300, 10), (20, 20), (1000, 1)])
    func bothSelectionsMatchAFullSortWithTiesAndNaNs(vocabulary: Int, k: Int) {
        let positions = 9
        let logits: [Float] = (0..<(vocabulary * positions)).map { i in
            let p = i / vocabulary
            if p == 0 { return 1.5 }  // a row of one value
            if i % 17 == 5 { return .nan }
            if p % 2 == 1 { return (noise(i, seed: 5) * 3).rounded() }  // few distinct values
            return noise(i, seed: 7) * 4
        }
        let top = TopKLogits(logits: logits, vocabularySize: vocabulary, k: k)
        let rank = { (v: Float) in v.isNaN ? -Float.infinity : v }
        for p in 0..<positions {
            let row = Array(logits[(p * vocabulary)..<((p + 1) * vocabulary)])
            let expected = row.indices.sorted { rank(row[$0]) != rank(row[$1]) ? rank(row[$0]) > rank(row[$1]) : $0 < $1 }
                .prefix(k).sorted()
            #expect(top.indices[(p * k)..<((p + 1) * k)].map(Int.init) == Array(expected), "position \(p)")
            let kept = top.values[(p * k)..<((p + 1) * k)]
            #expect(zip(kept, expected).allSatisfy { $0.bitPattern == row[$1].bitPattern }, "position \(p)")
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
