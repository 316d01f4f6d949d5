// Trust rows against the reference code's own formulas (arXiv 2404.09753,
// `src/optim/strategies.py`), evaluated with PyTorch by tools/trust_reference.py on four
// clients with random LoRA matrices and random logits.

import Foundation
import Learning
import Testing

@testable import Trust

struct TrustReference: Decodable {
    struct Tensor: Decodable {
        var name: String
        var shape: [Int]
        var values: [Float]
    }

    var rank: Int
    var topkLogits: Int
    var vocabulary: Int
    var adapters: [[Tensor]]
    var logits: [[Float]]
    var similarity: [[Double]]
    var rows: [String: [[Double]]]
    var distances: [[Double]]

    static let shared = try! JSONDecoder().decode(TrustReference.self, from: Data(trustReferenceJSON.utf8))

    func adapter(_ client: Int) -> LoRAAdapter {
        LoRAAdapter(config: LoRAConfig(rank: rank, targets: [.attentionQKV, .mlpOut]),
                    tensors: adapters[client].map { NamedTensor(name: $0.name, shape: $0.shape, values: $0.values) })
    }

    /// Client `i` as the node, the others as its peers in client order.
    func candidates(node i: Int) -> (own: TrustCandidate, peers: [TrustCandidate]) {
        let own = TrustCandidate(id: "c\(i)", adapter: adapter(i))
        let peers = (0..<adapters.count).filter { $0 != i }.map { TrustCandidate(id: "c\($0)", adapter: adapter($0)) }
        return (own, peers)
    }

    /// The reference row of client `i` (over clients 0, 1, 2, 3) in candidate order.
    func row(_ key: String, node i: Int) -> [Double] {
        let row = rows[key]![i]
        return [row[i]] + row.indices.filter { $0 != i }.map { row[$0] }
    }
}

/// Serves each client's recorded logits; a client's adapter is recognised by its first value.
final class RecordedLogits: CandidateEvaluator {
    let reference = TrustReference.shared

    func meanCrossEntropy(of adapter: LoRAAdapter) throws -> Double {
        Issue.record("not used")
        return 0
    }

    func topKLogits(of adapter: LoRAAdapter, k: Int) throws -> TopKLogits {
        let client = try #require(reference.adapters.firstIndex { $0[0].values[0] == adapter.tensors[0].values[0] })
        return TopKLogits(logits: reference.logits[client], vocabularySize: reference.vocabulary, k: k)
    }
}

@Suite struct ReferenceCodeTests {
    let reference = TrustReference.shared

    @Test func similarityMatchesTheReference() {
        for i in 0..<4 {
            for j in 0..<4 {
                let ours = WeightSimilarity.similarity(reference.adapter(i), reference.adapter(j))
                #expect(abs(ours - reference.similarity[i][j]) < 1e-5, "s[\(i)][\(j)]")
            }
        }
    }

    @Test(arguments: ["weights", "weights:threshold=0.5", "weights:threshold=0.15", "weights:topk=2"])
    func weightsRowsMatchTheReference(_ setting: String) throws {
        for i in 0..<4 {
            let (own, peers) = reference.candidates(node: i)
            let record = try TrustRow.compute(config: TrustConfig(parsing: setting), round: 0, own: own, peers: peers)
            expectClose(record.weights, reference.row(setting, node: i), tolerance: 1e-5)
        }
    }

    @Test(arguments: ["prediction:logits=5", "prediction:topk=2,logits=5"])
    func predictionRowsMatchTheReference(_ setting: String) throws {
        for i in 0..<4 {
            let (own, peers) = reference.candidates(node: i)
            let record = try TrustRow.compute(config: TrustConfig(parsing: setting), round: 0, own: own, peers: peers,
                                              evaluator: RecordedLogits())
            expectClose(record.weights, reference.row(setting, node: i), tolerance: 1e-5)
        }
    }

    @Test func distancesDifferFromTheReferenceOnlyByTheSequenceLength() throws {
        // The reference divides the summed L1 by the number of sequences, this code by the
        // number of positions: a factor T = 3 here.
        let evaluator = RecordedLogits()
        let tops = try (0..<4).map { try evaluator.topKLogits(of: reference.adapter($0), k: reference.topkLogits) }
        for i in 0..<4 {
            for j in 0..<4 {
                let ours = PredictionDistance.distance(tops[i], tops[j]) * 3
                #expect(abs(ours - reference.distances[i][j]) <= 1e-5 * max(1, reference.distances[i][j]), "d[\(i)][\(j)]")
            }
        }
    }
}
