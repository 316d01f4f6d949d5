// The `fomo` rule: FedFomo's weights, against hand-computed rows.

import Foundation
import Testing

@testable import Trust

@Suite struct ImprovementWeightsTests {
    /// The row of `validation:rule=fomo` for the node tagged 1 and peers tagged `tags`,
    /// each candidate's loss given by `losses` (tag → nats).
    func row(losses: [Float: Double], peers tags: [Float]) throws -> [Double] {
        let peers = tags.map { TrustCandidate(id: "p\($0)", adapter: taggedAdapter($0)) }
        return try TrustRow.compute(
            config: TrustConfig(parsing: "validation:rule=fomo"), round: 1,
            own: TrustCandidate(id: "own", adapter: taggedAdapter(1)), peers: peers,
            evaluator: FakeEvaluator(losses: losses)).weights
    }

    @Test func distanceIsTheEuclideanNormOverEveryTensor() {
        // Eight values, each differing by 3: √(8 · 9).
        #expect(abs(ImprovementWeights.distance(taggedAdapter(1), taggedAdapter(4)) - 72.0.squareRoot()) < 1e-12)
    }

    @Test func peersThatImproveShareTheRowByGainPerDistance() throws {
        // Own loss 1.0. Tag 2: gain 0.5 at distance √8 · 1; tag 3: worse; tag 5: gain 0.2
        // at distance √8 · 4. Weights ∝ 0.5 : 0.05, so 10/11 and 1/11; the node itself 0.
        let w = try row(losses: [1: 1.0, 2: 0.5, 3: 2.0, 5: 0.8], peers: [2, 3, 5])
        expectClose(w, [0, 10.0 / 11, 0, 1.0 / 11])
    }

    @Test func noImprovementKeepsTheNodeAlone() throws {
        expectClose(try row(losses: [1: 1.0, 2: 1.0, 3: 2.0], peers: [2, 3]), [1, 0, 0])
        expectClose(try row(losses: [1: 1.0], peers: []), [1])
    }

    @Test func rowsOf2And12And40CandidatesWithTheSameSeparation() throws {
        // One better peer (tag 2, gain 0.1) among candidates that are all worse.
        for far in [0, 10, 38] {
            var losses: [Float: Double] = [1: 2.0, 2: 1.9]
            let tags = [Float(2)] + (0..<far).map { Float(10 + $0) }
            for t in tags.dropFirst() { losses[t] = 2.5 + Double(t) / 100 }
            let w = try row(losses: losses, peers: tags)
            #expect(w.count == 2 + far)
            expectClose(w, [0, 1] + [Double](repeating: 0, count: far))
        }
    }

    @Test func ignoresTheUnitOfThePerplexityAndCandidatesFarAway() throws {
        let losses: [Float: Double] = [1: 1.0, 2: 0.5, 3: 2.0, 5: 0.8, 9: 7.0]
        let reference = try row(losses: losses, peers: [2, 3, 5])
        // Perplexities ×4: losses + ln 4.
        expectClose(try row(losses: losses.mapValues { $0 + log(4) }, peers: [2, 3, 5]), reference, tolerance: 1e-12)
        // A candidate far worse than the node changes nothing.
        expectClose(try row(losses: losses, peers: [2, 3, 5, 9]), reference + [0])
    }

    @Test func takesNoSoftmaxParametersAndOnlyValidation() {
        #expect(throws: TrustConfigError.variantNotApplicableToRule(.fomo)) { try TrustConfig(parsing: "validation:rule=fomo,temperature=0.5") }
        #expect(throws: TrustConfigError.variantNotApplicableToRule(.fomo)) { try TrustConfig(parsing: "validation:rule=fomo,scale=nearest") }
        #expect(throws: TrustConfigError.ruleNotApplicable(.prediction, .fomo)) { try TrustConfig(parsing: "prediction:rule=fomo") }
        #expect(throws: TrustConfigError.ruleNotApplicable(.weights, .descent)) { try TrustConfig(parsing: "weights:rule=descent") }
    }
}
