// Candidates that do not fit the node's model are left out with their reason.

import Learning
import Testing

@testable import Trust

@Suite struct CandidateScreeningTests {
    let own = WeightsExample.own
    let nanPeer = TrustCandidate(id: "nan", adapter: tinyAdapter(a: [1, .nan, 0, 1], b: [0, 0, 0, 0]))
    let wrongShape = TrustCandidate(id: "wide", adapter: LoRAAdapter(
        config: LoRAConfig(rank: 2, targets: [.attentionQKV]),
        tensors: [
            NamedTensor(name: "h.0.attn.c_attn.lora_A", shape: [2, 3], values: [1, 0, 0, 0, 1, 0]),
            NamedTensor(name: "h.0.attn.c_attn.lora_B", shape: [2, 2], values: [3, 0, 4, 0]),
        ]))

    @Test func reasonsAreExact() {
        #expect(CandidateScreening.exclusion(of: own.adapter, against: own.adapter) == nil)
        let nan = CandidateScreening.exclusion(of: nanPeer.adapter, against: own.adapter)
        #expect(nan?.reason == .nonFiniteValues)
        #expect(nan?.detail == "h.0.attn.c_attn.lora_A[1] = nan")
        let shape = CandidateScreening.exclusion(of: wrongShape.adapter, against: own.adapter)
        #expect(shape?.reason == .layoutMismatch)
        #expect(shape?.detail == "h.0.attn.c_attn.lora_A [2, 3], expected h.0.attn.c_attn.lora_A [2, 2]")
        let short = LoRAAdapter(config: own.adapter.config, tensors: [own.adapter.tensors[0]])
        #expect(CandidateScreening.exclusion(of: short, against: own.adapter)?.reason == .layoutMismatch)
        let renamed = LoRAAdapter(config: own.adapter.config, tensors: own.adapter.tensors.map {
            NamedTensor(name: $0.name.replacingOccurrences(of: "c_attn", with: "c_proj"), shape: $0.shape, values: $0.values)
        })
        #expect(CandidateScreening.exclusion(of: renamed, against: own.adapter)?.reason == .layoutMismatch)
    }

    @Test func excludedCandidatesGetWeightZeroAndTheRestSumsToOne() throws {
        let peers = [WeightsExample.p1, nanPeer, WeightsExample.p2, wrongShape]
        let record = try TrustRow.compute(config: TrustConfig(.weights), round: 0, own: own, peers: peers)
        #expect(record.candidates == ["own", "p1", "nan", "p2", "wide"])
        #expect(record.exclusions.map(\.candidate) == ["nan", "wide"])
        #expect(record.exclusions.map(\.reason) == [.nonFiniteValues, .layoutMismatch])
        #expect(record.weights[2] == 0 && record.weights[4] == 0)
        #expect(record.scores[2] == nil && record.scores[4] == nil)
        // The same numbers as without the two: softmax(0.75, 0, 0.4267…)
        expectClose([record.weights[0], record.weights[1], record.weights[3]],
                    [0.45533634098734005, 0.21508565772989702, 0.3295780012827628])
        #expect(abs(total(record.weights) - 1) < 1e-12)
    }

    @Test func excludedCandidatesAreNeverEvaluated() throws {
        let evaluator = FakeEvaluator(losses: [1: 1, 3: 0.5])
        let nan = TrustCandidate(id: "nan", adapter: tinyAdapter(a: [2, .infinity, 0, 0], b: [0, 0, 0, 0]))
        let record = try TrustRow.compute(
            config: TrustConfig(.validation), round: 0, own: TrustCandidate(id: "own", adapter: taggedAdapter(1)),
            peers: [nan, TrustCandidate(id: "p2", adapter: taggedAdapter(3))], evaluator: evaluator)
        #expect(evaluator.calls == [1, 3])
        expectClose(record.weights, [0.25548666291787675, 0, 0.7445133370821233])
    }

    @Test func predictionNormalisesDistancesOverTheRestOnly() throws {
        // The prediction example with a wrong-shape peer in the middle: d̃ is still
        // (0, 1.5, 8.5) / 10 over the usable three.
        let evaluator = FakeEvaluator(topK: [1: PredictionExample.own, 2: PredictionExample.p1, 3: PredictionExample.p2])
        let record = try TrustRow.compute(
            config: TrustConfig(.prediction, logitsTopK: 2), round: 0,
            own: TrustCandidate(id: "own", adapter: taggedAdapter(1)),
            peers: [TrustCandidate(id: "p1", adapter: taggedAdapter(2)), wrongShape, TrustCandidate(id: "p2", adapter: taggedAdapter(3))],
            evaluator: evaluator)
        expectClose(record.weights, [0.8174384948543442, 0.18239518226834123, 0, 0.00016632287731452926])
        #expect(record.exclusions.map(\.reason) == [.layoutMismatch])
        #expect(evaluator.calls == [1, 2, 3])
    }

    @Test func fedavgIsUniformOverTheRest() throws {
        let record = try TrustRow.compute(config: TrustConfig(.fedavg), round: 0, own: own,
                                          peers: [nanPeer, WeightsExample.p1, wrongShape])
        expectClose(record.weights, [0.5, 0, 0.5, 0])
    }

    @Test func aNonFiniteOwnAdapterIsAnError() {
        #expect(throws: TrustError.ownAdapterNotFinite("h.0.attn.c_attn.lora_A[1] = nan")) {
            try TrustRow.compute(config: TrustConfig(.local), round: 0, own: TrustCandidate(id: "own", adapter: nanPeer.adapter), peers: [])
        }
    }

    @Test func duplicateIdentitiesAreAnError() {
        #expect(throws: TrustError.duplicateCandidate("p1")) {
            try TrustRow.compute(config: TrustConfig(.fedavg), round: 0, own: own, peers: [WeightsExample.p1, WeightsExample.p1])
        }
    }
}
