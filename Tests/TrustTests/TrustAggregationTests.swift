// The personalized adapter is the row-weighted sum of the candidates' adapters.

import Learning
import Testing

@testable import Trust

@Suite struct TrustAggregationTests {
    @Test func weightedSumOfEveryTensor() {
        let a = tinyAdapter(a: [1, 2, 3, 4], b: [0, 0, 1, 1])
        let b = tinyAdapter(a: [5, 6, 7, 8], b: [4, 4, -1, 2])
        let c = tinyAdapter(a: [-4, 0, 4, 8], b: [8, 0, 0, 1])
        let result = TrustAggregation.aggregate([a, b, c], weights: [0.5, 0.25, 0.25])
        // A: 0.5·(1,2,3,4) + 0.25·(5,6,7,8) + 0.25·(−4,0,4,8) = (0.75, 2.5, 4.25, 6)
        // B: 0.5·(0,0,1,1) + 0.25·(4,4,−1,2) + 0.25·(8,0,0,1) = (3, 1, 0.25, 1.25)
        #expect(result.tensors[0].values == [0.75, 2.5, 4.25, 6])
        #expect(result.tensors[1].values == [3, 1, 0.25, 1.25])
        #expect(result.hasSameLayout(as: a))
        #expect(result.config == a.config)
    }

    @Test func zeroWeightCandidatesNeverEnterEvenWithAnotherLayout() {
        let own = tinyAdapter(a: [1, 2, 3, 4], b: [1, 1, 1, 1])
        let other = LoRAAdapter(config: own.config, tensors: [NamedTensor(name: "x", shape: [1], values: [.nan])])
        let peer = tinyAdapter(a: [3, 2, 1, 0], b: [3, 3, 3, 3])
        let result = TrustAggregation.aggregate([own, other, peer], weights: [0.5, 0, 0.5])
        #expect(result.tensors[0].values == [2, 2, 2, 2])
        #expect(result.tensors[1].values == [2, 2, 2, 2])
    }

    @Test func localAggregateIsTheOwnAdapter() throws {
        let own = TrustCandidate(id: "own", adapter: gpt2Adapter(layers: 2, width: 8, rank: 2) { noise($0, seed: 9) })
        let peer = TrustCandidate(id: "peer", adapter: gpt2Adapter(layers: 2, width: 8, rank: 2) { noise($0, seed: 10) })
        let record = try TrustRow.compute(config: TrustConfig(.local), round: 0, own: own, peers: [peer])
        #expect(TrustAggregation.aggregate(own: own, peers: [peer], record: record) == own.adapter)
    }

    @Test func fedavgAggregateIsTheMean() throws {
        let own = TrustCandidate(id: "own", adapter: gpt2Adapter(layers: 1, width: 8, rank: 2) { Float($0 % 7) })
        let peer = TrustCandidate(id: "peer", adapter: gpt2Adapter(layers: 1, width: 8, rank: 2) { Float($0 % 5) })
        let record = try TrustRow.compute(config: TrustConfig(.fedavg), round: 0, own: own, peers: [peer])
        let result = TrustAggregation.aggregate(own: own, peers: [peer], record: record)
        for (t, (x, y)) in zip(result.tensors, zip(own.adapter.tensors, peer.adapter.tensors)) {
            #expect(t.values == zip(x.values, y.values).map { ($0 + $1) / 2 })
        }
    }
}
