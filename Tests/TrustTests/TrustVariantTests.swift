// Temperature, top-k and threshold on the `weights` example, whose affinities are
// (own 0.75, p1 0, p2 0.42677669529663687, p3 0.75).

import Testing

@testable import Trust

@Suite struct TrustVariantTests {
    let own = WeightsExample.own
    let peers = [WeightsExample.p1, WeightsExample.p2, WeightsExample.p3]

    func row(_ text: String, peers: [TrustCandidate]? = nil) throws -> [Double] {
        try TrustRow.compute(config: TrustConfig(parsing: text), round: 0, own: own, peers: peers ?? self.peers).weights
    }

    @Test func plainRowIsSoftmaxAtTemperatureOne() throws {
        expectClose(try row("weights"), [0.3128736142728542, 0.14779103061769008, 0.22646174083660145, 0.3128736142728542])
    }

    @Test func lowerTemperatureSharpens() throws {
        // softmax(a / 0.5)
        let sharp = try row("weights:temperature=0.5")
        expectClose(sharp, [0.36402894977077177, 0.08122583786101702, 0.1907162625974394, 0.36402894977077177])
        #expect(sharp[0] > (try row("weights"))[0])
    }

    @Test func topKKeepsTheBestAndRenormalises() throws {
        expectClose(try row("weights:topk=2"), [0.5, 0, 0, 0.5])
        expectClose(try row("weights:topk=3"), [0.3671325056571844, 0, 0.26573498868563106, 0.3671325056571844])
        expectClose(try row("weights:topk=9"), try row("weights"))
    }

    @Test func topKBreaksTiesTowardTheSmallerIndex() throws {
        // own and p3 tie at 0.75: own, index 0, wins.
        #expect(try row("weights:topk=1") == [1, 0, 0, 0])
        // Two peers with the same adapter tie at 0.4267…: the earlier one is kept.
        let twin = TrustCandidate(id: "p2-twin", adapter: WeightsExample.p2.adapter)
        expectClose(try row("weights:topk=2", peers: [WeightsExample.p2, twin]), [0.580109594723969, 0.419890405276031, 0])
        expectClose(try row("weights:topk=2", peers: [twin, WeightsExample.p2]), [0.580109594723969, 0.419890405276031, 0])
    }

    @Test func thresholdDropsAffinitiesAtOrBelowIt() throws {
        // 0.3 drops p1 (0) only.
        expectClose(try row("weights:threshold=0.3"), [0.3671325056571844, 0, 0.26573498868563106, 0.3671325056571844])
        // Exactly at the threshold is dropped too: p2 sits at 0.4267…, p1 at 0.
        expectClose(try row("weights:threshold=0"), [0.3671325056571844, 0, 0.26573498868563106, 0.3671325056571844])
    }

    @Test func thresholdAlwaysKeepsTheBestTwo() throws {
        // Nothing exceeds 0.9; the best two are own and p2.
        expectClose(try row("weights:threshold=0.9", peers: [WeightsExample.p1, WeightsExample.p2]),
                    [0.580109594723969, 0, 0.419890405276031])
        // With p3 tied to own, the best two are own and p3.
        expectClose(try row("weights:threshold=0.9"), [0.5, 0, 0, 0.5])
    }

    @Test func softmaxIsStableForLargeAffinities() {
        let row = TrustNormalisation.softmax([1000, 999])
        expectClose(row, [0.7310585786300049, 0.2689414213699951])
        #expect(TrustNormalisation.softmax([-1e300, 0]) == [0, 1])
    }

    @Test func validationVariantsWorkOnMinusPerplexity() throws {
        // Affinities −(e, e², √e): top-2 keeps own and p2.
        let evaluator = FakeEvaluator(losses: [1: 1.0, 2: 2.0, 3: 0.5])
        let record = try TrustRow.compute(
            config: TrustConfig(parsing: "validation:topk=2"), round: 0,
            own: TrustCandidate(id: "own", adapter: taggedAdapter(1)),
            peers: [TrustCandidate(id: "p1", adapter: taggedAdapter(2)), TrustCandidate(id: "p2", adapter: taggedAdapter(3))],
            evaluator: evaluator)
        expectClose(record.weights, [0.25548666291787675, 0, 0.7445133370821233])
    }
}

@Suite struct TrustRowPropertyTests {
    func randomCandidate(_ name: String, seed: UInt64) -> TrustCandidate {
        TrustCandidate(id: name, adapter: gpt2Adapter(layers: 1, width: 8, rank: 2) { noise($0, seed: seed) })
    }

    @Test func permutingPeersPermutesTheRow() throws {
        let own = randomCandidate("own", seed: 1)
        let peers = (2...6).map { randomCandidate("p\($0)", seed: UInt64($0)) }
        let permutation = [3, 0, 4, 1, 2]
        for text in ["weights", "weights:topk=3", "weights:temperature=0.1", "fedavg"] {
            let config = try TrustConfig(parsing: text)
            let a = try TrustRow.compute(config: config, round: 0, own: own, peers: peers)
            let b = try TrustRow.compute(config: config, round: 0, own: own, peers: permutation.map { peers[$0] })
            #expect(b.weights[0] == a.weights[0], "\(text)")
            for (position, original) in permutation.enumerated() {
                #expect(b.weights[position + 1] == a.weights[original + 1], "\(text)")
                #expect(b.candidates[position + 1] == a.candidates[original + 1])
            }
        }
    }

    @Test func everyRowSumsToOne() throws {
        let own = randomCandidate("own", seed: 1)
        let peers = (2...9).map { randomCandidate("p\($0)", seed: UInt64($0)) }
        let mixtures = MixtureMatrix(rows: Dictionary(uniqueKeysWithValues: ([own] + peers).enumerated().map {
            ($1.id, [Double($0 % 3), 1, 0.5])
        }))
        for text in ["weights", "weights:temperature=0.01", "weights:topk=2", "weights:threshold=0.2", "oracle", "fedavg", "local"] {
            let row = try TrustRow.compute(config: TrustConfig(parsing: text), round: 0, own: own, peers: peers,
                                           mixtures: mixtures).weights
            #expect(abs(total(row) - 1) < 1e-12, "\(text): \(row)")
            #expect(row.allSatisfy { $0 >= 0 })
        }
    }
}
