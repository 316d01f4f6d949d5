// Each strategy against answers worked out by hand on tiny inputs.

import Foundation
import Learning
import Testing

@testable import Trust

/// The node and peers of the `weights` examples. Columns of A and B (rows in the
/// reference code's transposed layout):
/// - own: A columns (1,0), (0,1); B columns (3,4), (0,0)
/// - p1:  A columns (0,1), (1,0); B columns (4,−3), (1,1)      → cosines 0, 0, 0, 0
/// - p2:  A columns (1,0), (1,1); B columns (0,0), (0,0)      → cosines 1, 1/√2, 0, 0
/// - p3:  the same as own                                      → cosines 1, 1, 1, 0
/// A zero column has cosine 0 with anything (PyTorch's ε rule), so even the node's
/// similarity to itself is 3/4 here.
enum WeightsExample {
    static let own = TrustCandidate(id: "own", adapter: tinyAdapter(a: [1, 0, 0, 1], b: [3, 0, 4, 0]))
    static let p1 = TrustCandidate(id: "p1", adapter: tinyAdapter(a: [0, 1, 1, 0], b: [4, 1, -3, 1]))
    static let p2 = TrustCandidate(id: "p2", adapter: tinyAdapter(a: [1, 1, 0, 1], b: [0, 0, 0, 0]))
    static let p3 = TrustCandidate(id: "p3", adapter: tinyAdapter(a: [1, 0, 0, 1], b: [3, 0, 4, 0]))
    /// (1 + 1/√2) / 4
    static let s2 = 0.42677669529663687
}

@Suite struct WeightsStrategyTests {
    @Test func similarityAveragesCosinesOfColumnsWithZeroColumnsCountingZero() {
        #expect(WeightSimilarity.similarity(WeightsExample.own.adapter, WeightsExample.own.adapter) == 0.75)
        #expect(WeightSimilarity.similarity(WeightsExample.own.adapter, WeightsExample.p1.adapter) == 0)
        #expect(abs(WeightSimilarity.similarity(WeightsExample.own.adapter, WeightsExample.p2.adapter) - WeightsExample.s2) < 1e-15)
    }

    @Test func similarityIsNotRowWise() {
        // Rows of A (PEFT layout) would be (1,0),(0,1) vs (0,1),(1,0) → 0, and rows of B
        // (3,0),(4,0) vs (4,1),(−3,1) → 12/(3√17) and −12/(4√10): a non-zero mean.
        // The reference compares columns, which are orthogonal here.
        let a = tinyAdapter(a: [1, 0, 0, 1], b: [3, 0, 4, 0])
        let b = tinyAdapter(a: [0, 1, 1, 0], b: [4, 1, -3, 1])
        #expect(WeightSimilarity.similarity(a, b) == 0)
    }

    @Test func rowIsSoftmaxOfSimilarities() throws {
        let record = try TrustRow.compute(config: TrustConfig(.weights), round: 7, own: WeightsExample.own,
                                          peers: [WeightsExample.p1, WeightsExample.p2])
        // softmax(0.75, 0, 0.42677669529663687)
        expectClose(record.weights, [0.45533634098734005, 0.21508565772989702, 0.3295780012827628])
        expectClose(record.scores.map { $0! }, [0.75, 0, WeightsExample.s2])
        #expect(record.candidates == ["own", "p1", "p2"])
        #expect(record.round == 7)
        #expect(record.exclusions.isEmpty)
        #expect(abs(total(record.weights) - 1) < 1e-12)
    }
}

@Suite struct ValidationStrategyTests {
    @Test func rowIsSoftmaxOfMinusPerplexity() throws {
        let evaluator = FakeEvaluator(losses: [1: 1.0, 2: 2.0, 3: 0.5])
        let record = try TrustRow.compute(
            config: TrustConfig(.validation), round: 0, own: TrustCandidate(id: "own", adapter: taggedAdapter(1)),
            peers: [TrustCandidate(id: "p1", adapter: taggedAdapter(2)), TrustCandidate(id: "p2", adapter: taggedAdapter(3))],
            evaluator: evaluator)
        // p = (e, e², √e); softmax(−p)
        expectClose(record.scores.map { $0! }, [2.718281828459045, 7.38905609893065, 1.6487212707001282])
        expectClose(record.weights, [0.25487683527326355, 0.0023869255547370196, 0.7427362391719995])
        #expect(evaluator.calls == [1, 2, 3])
    }

    @Test func overflowingPerplexityExcludesTheCandidate() throws {
        let evaluator = FakeEvaluator(losses: [1: 1.0, 2: 800, 3: 0.5])
        let record = try TrustRow.compute(
            config: TrustConfig(.validation), round: 0, own: TrustCandidate(id: "own", adapter: taggedAdapter(1)),
            peers: [TrustCandidate(id: "p1", adapter: taggedAdapter(2)), TrustCandidate(id: "p2", adapter: taggedAdapter(3))],
            evaluator: evaluator)
        #expect(record.exclusions.map(\.reason) == [.nonFiniteScore])
        #expect(record.exclusions.map(\.candidate) == ["p1"])
        #expect(record.scores[1] == nil && record.weights[1] == 0)
        // softmax(−e, −√e)
        expectClose(record.weights, [0.25548666291787675, 0, 0.7445133370821233])
    }

    @Test func needsAnEvaluator() {
        #expect(throws: TrustError.missingEvaluator(.validation)) {
            try TrustRow.compute(config: TrustConfig(.validation), round: 0,
                                 own: TrustCandidate(id: "own", adapter: taggedAdapter(1)), peers: [])
        }
    }
}

/// k = 2 logits at 2 positions, token indices ascending within each position.
///
/// own: position 0 {1: 5, 3: 4}, position 1 {0: 2, 2: 1}
/// p1:  position 0 {1: 4, 3: 4} → |5−4| + |4−4| = 1; position 1 {0: 2, 2: 3} → 2. d = 1.5
/// p2:  position 0 {2: 6, 3: 1} → 5 (own only) + 3 + 6 (p2 only) = 14;
///      position 1 {0: 1, 1: 1} → 1 + 1 (p2 only) + 1 (own only) = 3. d = 8.5
/// d̃ = (0, 1.5, 8.5) / 10; affinities −10·d̃ = (0, −1.5, −8.5).
enum PredictionExample {
    static let own = TopKLogits(k: 2, indices: [1, 3, 0, 2], values: [5, 4, 2, 1])
    static let p1 = TopKLogits(k: 2, indices: [1, 3, 0, 2], values: [4, 4, 2, 3])
    static let p2 = TopKLogits(k: 2, indices: [2, 3, 0, 1], values: [6, 1, 1, 1])
}

@Suite struct PredictionStrategyTests {
    @Test func distanceComparesSparseTopKVectors() {
        #expect(PredictionDistance.distance(PredictionExample.own, PredictionExample.own) == 0)
        #expect(PredictionDistance.distance(PredictionExample.own, PredictionExample.p1) == 1.5)
        #expect(PredictionDistance.distance(PredictionExample.own, PredictionExample.p2) == 8.5)
        #expect(PredictionDistance.distance(PredictionExample.p2, PredictionExample.own) == 8.5)
    }

    @Test func rowIsSoftmaxOfMinusTenNormalisedDistances() throws {
        let evaluator = FakeEvaluator(topK: [1: PredictionExample.own, 2: PredictionExample.p1, 3: PredictionExample.p2])
        let record = try TrustRow.compute(
            config: TrustConfig(.prediction, logitsTopK: 2), round: 0,
            own: TrustCandidate(id: "own", adapter: taggedAdapter(1)),
            peers: [TrustCandidate(id: "p1", adapter: taggedAdapter(2)), TrustCandidate(id: "p2", adapter: taggedAdapter(3))],
            evaluator: evaluator)
        expectClose(record.scores.map { $0! }, [0, 1.5, 8.5])
        // softmax(0, −1.5, −8.5)
        expectClose(record.weights, [0.8174384948543442, 0.18239518226834123, 0.00016632287731452926])
        #expect(evaluator.calls == [1, 2, 3], "one evaluation per candidate, own first")
    }

    @Test func identicalPredictionsGiveAUniformRow() throws {
        let evaluator = FakeEvaluator(topK: [1: PredictionExample.own, 2: PredictionExample.own])
        let record = try TrustRow.compute(
            config: TrustConfig(.prediction, logitsTopK: 2), round: 0,
            own: TrustCandidate(id: "own", adapter: taggedAdapter(1)),
            peers: [TrustCandidate(id: "p1", adapter: taggedAdapter(2))], evaluator: evaluator)
        expectClose(record.weights, [0.5, 0.5])
    }

    @Test func logitsOverOtherPositionsAreRefused() {
        let evaluator = FakeEvaluator(topK: [1: PredictionExample.own,
                                             2: TopKLogits(k: 2, indices: [0, 1], values: [1, 1])])
        #expect(throws: TrustError.referenceShapeMismatch(candidate: "p1")) {
            try TrustRow.compute(config: TrustConfig(.prediction, logitsTopK: 2), round: 0,
                                 own: TrustCandidate(id: "own", adapter: taggedAdapter(1)),
                                 peers: [TrustCandidate(id: "p1", adapter: taggedAdapter(2))], evaluator: evaluator)
        }
    }
}

@Suite struct OracleStrategyTests {
    let mixtures = MixtureMatrix(rows: ["own": [1, 0], "p1": [0.5, 0.5], "p2": [0, 1], "p3": [1, 0]])

    @Test func rowIsNormalisedMixtureOverlap() throws {
        // P Pᵀ row of own: (1, 0.5, 0) → divided by 1.5
        let record = try TrustRow.compute(
            config: TrustConfig(.oracle), round: 0, own: TrustCandidate(id: "own", adapter: taggedAdapter(1)),
            peers: [TrustCandidate(id: "p1", adapter: taggedAdapter(2)), TrustCandidate(id: "p2", adapter: taggedAdapter(3))],
            mixtures: mixtures)
        expectClose(record.weights, [2.0 / 3, 1.0 / 3, 0])
        expectClose(record.scores.map { $0! }, [1, 0.5, 0])
    }

    @Test func rowIsRestrictedToCandidatesPresentAndRenormalised() throws {
        // p3 has the node's own mixture; p1 is absent. Overlaps (1, 1, 0) → (½, ½, 0).
        let record = try TrustRow.compute(
            config: TrustConfig(.oracle), round: 0, own: TrustCandidate(id: "own", adapter: taggedAdapter(1)),
            peers: [TrustCandidate(id: "p3", adapter: taggedAdapter(2)), TrustCandidate(id: "p2", adapter: taggedAdapter(3))],
            mixtures: mixtures)
        expectClose(record.weights, [0.5, 0.5, 0])
    }

    @Test func candidateWithoutMixtureIsExcluded() throws {
        let record = try TrustRow.compute(
            config: TrustConfig(.oracle), round: 0, own: TrustCandidate(id: "own", adapter: taggedAdapter(1)),
            peers: [TrustCandidate(id: "stranger", adapter: taggedAdapter(2)), TrustCandidate(id: "p1", adapter: taggedAdapter(3))],
            mixtures: mixtures)
        #expect(record.exclusions.map(\.reason) == [.noMixture])
        #expect(record.exclusions.map(\.candidate) == ["stranger"])
        expectClose(record.weights, [2.0 / 3, 0, 1.0 / 3])
    }

    @Test func needsTheNodesOwnMixture() {
        #expect(throws: TrustError.missingMixture("nobody")) {
            try TrustRow.compute(config: TrustConfig(.oracle), round: 0,
                                 own: TrustCandidate(id: "nobody", adapter: taggedAdapter(1)), peers: [], mixtures: mixtures)
        }
    }
}

@Suite struct FixedStrategyTests {
    let own = TrustCandidate(id: "own", adapter: taggedAdapter(1))
    let peers = (2...4).map { TrustCandidate(id: "p\($0)", adapter: taggedAdapter(Float($0))) }

    @Test func fedavgIsUniform() throws {
        let record = try TrustRow.compute(config: TrustConfig(.fedavg), round: 0, own: own, peers: peers)
        #expect(record.weights == [0.25, 0.25, 0.25, 0.25])
        #expect(record.scores.allSatisfy { $0 == nil })
    }

    @Test func localTrustsOnlyItself() throws {
        let record = try TrustRow.compute(config: TrustConfig(.local), round: 0, own: own, peers: peers)
        #expect(record.weights == [1, 0, 0, 0])
    }

    @Test func aloneEveryStrategyGivesWeightOne() throws {
        let evaluator = FakeEvaluator(losses: [1: 2], topK: [1: PredictionExample.own])
        for strategy in TrustStrategy.allCases {
            let config = TrustConfig(strategy, logitsTopK: strategy == .prediction ? 2 : TrustConfig.defaultLogitsTopK)
            let record = try TrustRow.compute(config: config, round: 0, own: own, peers: [], evaluator: evaluator,
                                              mixtures: MixtureMatrix(rows: ["own": [1]]))
            #expect(record.weights == [1], "\(strategy)")
        }
    }
}
