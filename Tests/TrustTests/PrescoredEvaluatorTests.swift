// Scores computed while the node waits (some candidates ahead of time, the rest when
// the wait ends) form the row the strategy forms without waiting.

import Foundation
import Learning
import Testing

@testable import Trust

/// Counts the adapters an evaluator is asked to score.
final class CountingEvaluator: CandidateEvaluator {
    let base: ModelEvaluator
    var scored = 0
    init(_ base: ModelEvaluator) { self.base = base }
    func meanCrossEntropy(of adapter: LoRAAdapter) throws -> Double {
        scored += 1
        return try base.meanCrossEntropy(of: adapter)
    }
    func topKLogits(of adapter: LoRAAdapter, k: Int) throws -> TopKLogits {
        scored += 1
        return try base.topKLogits(of: adapter, k: k)
    }
    func meanCrossEntropies(of adapters: [LoRAAdapter]) throws -> [Double] {
        scored += adapters.count
        return try base.meanCrossEntropies(of: adapters)
    }
    func topKLogits(of adapters: [LoRAAdapter], k: Int) throws -> [TopKLogits] {
        scored += adapters.count
        return try base.topKLogits(of: adapters, k: k)
    }
}

@Suite struct PrescoredEvaluatorTests {
    static let cases: [(TrustStrategy, Bool)] = [(.validation, false), (.prediction, false), (.validation, true), (.prediction, true)]

    /// The own adapter and two peers scored during the wait, three peers after it.
    @Test(arguments: cases) func theRowIsTheRowFormedWithoutWaiting(strategy: TrustStrategy, stacked: Bool) throws {
        let (model, candidates) = try StackedScoringTests.setup(bottleneck: false)
        model.stacksCandidates = stacked
        let own = TrustCandidate(id: "own", adapter: candidates[0])
        let peers = candidates.dropFirst().enumerated().map { TrustCandidate(id: "peer\($0)", adapter: $1) }
        let config = TrustConfig(strategy)
        let direct = try TrustRow.compute(config: config, round: 2, own: own, peers: peers, evaluator: model)

        let counting = CountingEvaluator(model)
        let prescored = PrescoredEvaluator(counting, config: config)
        for adapter in [candidates[0], candidates[2], candidates[4]] { try prescored.prescore(adapter) }
        try prescored.prescore(candidates[2])  // an update seen twice is scored once
        #expect(counting.scored == 3 && prescored.prescoredCount == 3)
        let overlapped = try TrustRow.compute(config: config, round: 2, own: own, peers: peers, evaluator: prescored)
        #expect(counting.scored == candidates.count, "each candidate is scored once in all")
        #expect(overlapped.candidates == direct.candidates)
        if stacked {
            // Three of six were scored alone instead of stacked: float rounding apart.
            for (o, d) in zip(overlapped.weights, direct.weights) { #expect(abs(o - d) <= 1e-6 * max(d, 1e-3), "\(o) against \(d)") }
        } else {
            #expect(overlapped.weights == direct.weights)
            #expect(overlapped.scores == direct.scores)
        }
    }

    @Test func strategiesWithoutAModelPrescoreNothing() throws {
        let (model, candidates) = try StackedScoringTests.setup(bottleneck: false)
        let counting = CountingEvaluator(model)
        for strategy in [TrustStrategy.weights, .fedavg, .local, .oracle] {
            try PrescoredEvaluator(counting, config: TrustConfig(strategy)).prescore(candidates[1])
        }
        #expect(counting.scored == 0)
    }
}
