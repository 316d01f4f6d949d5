// The row's own scale (`scale=nearest`, `scale=median`): hand-computed rows, rows of 2, 12
// and 40 candidates with the same separation, and the invariances each one claims.
// Expected values: softmax(−g / m) computed by hand (Python, double precision).

import Foundation
import Testing

@testable import Trust

@Suite struct TrustScaleTests {
    /// Prediction distances as a node measured them on real text: itself 0, the two other
    /// nodes of its group 1.5 and 1.9, and `far` others evenly from 14 to 30.
    static func distances(far: Int) -> [Double] {
        let spacing = 16 / Double(max(far - 1, 1))
        let others: [Double] = (0..<far).map { (j: Int) -> Double in 14 + spacing * Double(j) }
        return [0, 1.5, 1.9] + others
    }

    func row(_ affinities: [Double], _ scale: TrustScale, temperature: Double = 1) -> [Double] {
        TrustNormalisation.weights(affinities: affinities, variant: TrustVariant(temperature: temperature, scale: scale))
    }

    @Test func nearestDividesTheGapsByTheSmallestOne() {
        // Gaps 0, 1.5, 1.9, 14, 16 … 30 over the nearest, 1.5.
        expectClose(TrustNormalisation.scaled([-0, -1.5, -1.9, -14, -30], by: .nearest),
                    [0, -1, -1.9 / 1.5, -14 / 1.5, -20])
        // Only the gaps count, not the offset: the best candidate need not be at 0.
        expectClose(TrustNormalisation.scaled([5, 3, 4], by: .nearest), [0, -2, -1])
    }

    @Test func medianDividesTheGapsByTheirMedian() {
        // Positive gaps 1, 2, 4: median 2.
        expectClose(TrustNormalisation.scaled([10, 9, 8, 6], by: .median), [0, -0.5, -1, -2])
        // Positive gaps 1, 2, 4, 8: median (2 + 4) / 2 = 3.
        expectClose(TrustNormalisation.scaled([10, 9, 8, 6, 2], by: .median), [0, -1.0 / 3, -2.0 / 3, -4.0 / 3, -8.0 / 3])
    }

    @Test func equalScoresGiveAUniformRow() {
        for scale in TrustScale.allCases {
            #expect(TrustNormalisation.scaled([2, 2, 2], by: scale) == [0, 0, 0])
            expectClose(row([0.3, 0.3], scale), [0.5, 0.5])
        }
    }

    @Test func nearestRowsOf2And12And40CandidatesWithTheSameSeparation() {
        let two = row(Self.distances(far: 0).prefix(2).map { -$0 }, .nearest)
        expectClose(two, [0.7310585786300049, 0.2689414213699951])
        let twelve = row(Self.distances(far: 9).map { -$0 }, .nearest)
        #expect(twelve.count == 12)
        expectClose(Array(twelve.prefix(4)), [0.6061455365406633, 0.2229884812511433, 0.1707931969191448, 5.359962448591994e-05])
        expectClose([total(Array(twelve.prefix(3)))], [0.9999272147109513])
        let forty = row(Self.distances(far: 37).map { -$0 }, .nearest)
        #expect(forty.count == 40)
        expectClose(Array(forty.prefix(4)), [0.6060629718861078, 0.2229581074121649, 0.17076993273512633, 5.359232354214786e-05])
        expectClose([forty[39]], [1.249188889928929e-09], tolerance: 1e-20)
        expectClose([total(Array(forty.prefix(3)))], [0.999791012033399])
    }

    @Test func medianRowsDependOnHowTheCandidatesAreSpread() {
        // The median gap grows with the number of far candidates, so the group's share
        // falls from 1 to 0.48 to 0.17: a temperature from the spread is not enough.
        expectClose(row(Self.distances(far: 0).prefix(2).map { -$0 }, .median), [0.7310585786300049, 0.2689414213699951])
        let twelve = row(Self.distances(far: 9).map { -$0 }, .median)
        expectClose(Array(twelve.prefix(4)), [0.16852595731231818, 0.15634885917378694, 0.15325294433517067, 0.08368751370867562])
        expectClose([total(Array(twelve.prefix(3)))], [0.4781277608212758])
        let forty = row(Self.distances(far: 37).map { -$0 }, .median)
        expectClose(Array(forty.prefix(4)), [0.06057804911413704, 0.056505895212315874, 0.05546700124263206, 0.031640820202783054])
        expectClose([total(Array(forty.prefix(3)))], [0.17255094556908498])
    }

    @Test func bothScalesIgnoreTheUnitsAndOffsetOfTheScores() {
        let affinities = Self.distances(far: 9).map { -$0 }
        for scale in TrustScale.allCases {
            let reference = row(affinities, scale)
            for (factor, offset) in [(1e-3, 0.0), (7.0, 0.0), (1.0, 42.0), (250.0, -3.5)] {
                expectClose(row(affinities.map { factor * $0 + offset }, scale), reference, tolerance: 1e-12)
            }
        }
    }

    @Test func nearestIsUnmovedByCandidatesFartherThanEveryOther() {
        // Adding candidates beyond the farthest leaves every affinity as it was; the
        // others' weights change only by the mass the new ones take (here below 1e-8).
        let base = Self.distances(far: 9).map { -$0 }
        let more = base + [-40, -55, -80, -100]
        #expect(TrustNormalisation.scaled(more, by: .nearest).prefix(12) == TrustNormalisation.scaled(base, by: .nearest)[...])
        let a = row(base, .nearest), b = row(more, .nearest)
        for j in 0..<12 { #expect(abs(a[j] - b[j]) < 1e-8 * a[j] + 1e-15) }
        expectClose([b[0] / b[1]], [a[0] / a[1]], tolerance: 1e-12)
    }

    @Test func scaleOnTheWeightsStrategyRow() {
        // Cosine similarities 1 (itself), 0.8, 0.7, 0.1, 0.05.
        let s = [1.0, 0.8, 0.7, 0.1, 0.05]
        expectClose(row(s, .nearest), [0.6208209850328945, 0.2283872770414056, 0.13852388581389563, 0.006896698173598598, 0.005371153938205716])
        expectClose(row(s, .median), [0.3634405302466188, 0.26041651945324273, 0.22043782457679104, 0.08109454371835834, 0.07461058200498906])
    }

    @Test func validationWithScaleIgnoresThePerplexityUnit() throws {
        // Perplexities 10.90 (itself), 10.95, 11.10, 12.7, 13.0, 13.5; then all ×3
        // (losses + ln 3). The row is the hand-computed one both times.
        let perplexities = [10.90, 10.95, 11.10, 12.7, 13.0, 13.5]
        let expected = [0.7213991842739692, 0.26538792877224215, 0.013212886953788486, 1.673301877641311e-16,
                        4.147700671422715e-19, 1.8830531915836238e-23]
        for factor in [1.0, 3.0] {
            var losses: [Float: Double] = [:]
            for (j, p) in perplexities.enumerated() { losses[Float(j + 1)] = log(p * factor) }
            let evaluator = FakeEvaluator(losses: losses)
            let peers = (2...6).map { TrustCandidate(id: "p\($0)", adapter: taggedAdapter(Float($0))) }
            let record = try TrustRow.compute(
                config: TrustConfig(parsing: "validation:scale=nearest"), round: 1,
                own: TrustCandidate(id: "own", adapter: taggedAdapter(1)), peers: peers, evaluator: evaluator)
            expectClose(record.weights, expected, tolerance: 1e-9)
        }
    }

    @Test func predictionWithScaleReplacesTheSumNormalisation() throws {
        // d = 0 (itself), 1.5, 8.5 (PredictionExample): with scale=nearest the affinities
        // are 0, −1, −8.5 / 1.5, no longer the reference's −10 d / Σ d.
        let evaluator = FakeEvaluator(topK: [1: PredictionExample.own, 2: PredictionExample.p1, 3: PredictionExample.p2])
        let peers = [TrustCandidate(id: "p1", adapter: taggedAdapter(2)), TrustCandidate(id: "p2", adapter: taggedAdapter(3))]
        let own = TrustCandidate(id: "own", adapter: taggedAdapter(1))
        let record = try TrustRow.compute(
            config: TrustConfig(parsing: "prediction:scale=nearest,logits=2"), round: 1, own: own, peers: peers, evaluator: evaluator)
        expectClose(record.weights, [0.729214389984275, 0.26826298228158935, 0.002522627734135575])
        expectClose(record.scores.map { $0! }, [0, 1.5, 8.5])
    }
}
