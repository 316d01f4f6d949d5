// A row carried over to a later round (`trust_every`): the scored row's weights by
// candidate, or nothing when the candidates or their fitness changed.

import Foundation
import Testing

@testable import Trust

@Suite struct CarriedRowTests {
    let own = TrustCandidate(id: "own", adapter: taggedAdapter(1))
    let p1 = TrustCandidate(id: "p1", adapter: taggedAdapter(2))
    let p2 = TrustCandidate(id: "p2", adapter: taggedAdapter(3))
    /// A row as round 5 scored it, with p2 excluded (weight 0) for its layout then.
    let scored = TrustRecord(
        round: 5, strategy: TrustConfig(.validation), candidates: ["own", "p1", "p2"], scores: [2.5, 3.0, nil],
        weights: [0.625, 0.375, 0], exclusions: [TrustExclusion(candidate: "p2", reason: .layoutMismatch, detail: "then")],
        milliseconds: 40)

    @Test func carriesTheWeightsByCandidateInTheNewOrderAndNamesTheScoredRound() throws {
        let row = try #require(TrustRow.carried(scored, round: 7, own: own, peers: [p2, p1]))
        #expect(row.round == 7 && row.scoredRound == 5 && row.roundScored == 5)
        #expect(row.candidates == ["own", "p2", "p1"])
        #expect(row.weights == [0.625, 0, 0.375])
        #expect(row.scores == [2.5, nil, 3.0])
        #expect(row.exclusions == scored.exclusions)
        #expect(row.strategy == scored.strategy)
        #expect(row.milliseconds < scored.milliseconds)
        // Aggregating with it is the scored weights applied to this round's adapters.
        let aggregate = TrustAggregation.aggregate(own: own, peers: [p2, p1], record: row)
        #expect(aggregate.tensors[0].values == [Float](repeating: 0.625 * 1 + 0.375 * 2, count: 4))
    }

    @Test func aRowCarriedTwiceStillNamesTheRoundThatScoredIt() throws {
        let once = try #require(TrustRow.carried(scored, round: 6, own: own, peers: [p1, p2]))
        let twice = try #require(TrustRow.carried(once, round: 7, own: own, peers: [p1, p2]))
        #expect(twice.scoredRound == 5 && twice.weights == scored.weights)
        #expect(try TrustRecord(jsonLine: twice.jsonLine()) == twice)
    }

    @Test func otherCandidatesMeanScoringAfresh() {
        let p3 = TrustCandidate(id: "p3", adapter: taggedAdapter(4))
        #expect(TrustRow.carried(scored, round: 6, own: own, peers: [p1]) == nil, "p2 missing")
        #expect(TrustRow.carried(scored, round: 6, own: own, peers: [p1, p2, p3]) == nil, "p3 new")
        #expect(TrustRow.carried(scored, round: 6, own: own, peers: [p1, p3]) == nil, "p2 replaced by p3")
        #expect(TrustRow.carried(scored, round: 6, own: p1, peers: [own, p2]) == nil, "another node's row")
        // A history line naming a candidate twice (no computed row does) is not carried.
        let twice = TrustRecord(round: 5, strategy: TrustConfig(.fedavg), candidates: ["own", "p1", "p1"],
                                scores: [nil, nil, nil], weights: [0.4, 0.3, 0.3], exclusions: [], milliseconds: 0)
        #expect(TrustRow.carried(twice, round: 6, own: own, peers: [p1, p1]) == nil)
    }

    @Test func aWeighedCandidateNowUnfitMeansScoringAfresh() {
        let broken = TrustCandidate(id: "p1", adapter: tinyAdapter(a: [1, .nan, 0, 1], b: [0, 0, 0, 0]))
        #expect(TrustRow.carried(scored, round: 6, own: own, peers: [broken, p2]) == nil)
        let brokenOwn = TrustCandidate(id: "own", adapter: tinyAdapter(a: [.infinity, 0, 0, 1], b: [0, 0, 0, 0]))
        #expect(TrustRow.carried(scored, round: 6, own: brokenOwn, peers: [p1, p2]) == nil)
        // A candidate the scored row gave no weight never enters, so it may be anything.
        let otherLayout = TrustCandidate(id: "p2", adapter: gpt2Adapter(layers: 1, width: 2, rank: 1) { Float($0) })
        #expect(TrustRow.carried(scored, round: 6, own: own, peers: [p1, otherLayout])?.weights == [0.625, 0.375, 0])
    }

    @Test func aRecordWithoutScoredRoundReadsAsScoredInItsRound() throws {
        let line = #"{"candidates":["own"],"exclusions":[],"milliseconds":0,"round":3,"scores":[null],"strategy":"fedavg","weights":[1]}"#
        let record = try TrustRecord(jsonLine: line)
        #expect(record.scoredRound == nil && record.roundScored == 3)
        #expect(!(try record.jsonLine()).contains("scoredRound"))
    }
}
