// The model-based strategies end to end, with a model small enough to train in a test:
// a bigram language model whose logit table is one LoRA product. Two groups of nodes
// write clearly different text; `validation` and `prediction` must each put most of a
// node's weight on its own group.

import Foundation
import Learning
import Testing

@testable import Trust

/// A bigram model over a vocabulary of V tokens whose next-token logits after token p are
/// column p of M = B A (A `[r, V]`, B `[V, r]`, the PEFT layout of one adapted
/// projection applied to a one-hot input; the frozen base is zero).
///
/// It evaluates every candidate in the same buffers: `setAdapter` copies A and B in and
/// recomputes M; nothing is allocated per candidate except the returned top-k.
final class BigramModel: CandidateEvaluator {
    static let vocabulary = 8
    static let rank = 8
    static let names = ["h.0.attn.c_attn.lora_A", "h.0.attn.c_attn.lora_B"]

    /// A `[r, V]`, B `[V, r]`, M `[V, V]` (row n = next token, column p = previous token).
    private var a = [Float](repeating: 0, count: rank * vocabulary)
    private var b = [Float](repeating: 0, count: vocabulary * rank)
    private var m = [Float](repeating: 0, count: vocabulary * vocabulary)
    private var column = [Float](repeating: 0, count: vocabulary)
    /// (previous, next) pairs of the node's trust split.
    let trustPairs: [(Int, Int)]
    let reference: ReferenceBatches

    init(trustPairs: [(Int, Int)], reference: ReferenceBatches) {
        self.trustPairs = trustPairs
        self.reference = reference
    }

    static func emptyAdapter() -> LoRAAdapter {
        LoRAAdapter(config: LoRAConfig(rank: rank, targets: [.attentionQKV]), tensors: [
            NamedTensor(name: names[0], shape: [rank, vocabulary], values: [Float](repeating: 0, count: rank * vocabulary)),
            NamedTensor(name: names[1], shape: [vocabulary, rank], values: [Float](repeating: 0, count: vocabulary * rank)),
        ])
    }

    func setAdapter(_ adapter: LoRAAdapter) {
        a.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: adapter.tensors[0].values) }
        b.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: adapter.tensors[1].values) }
        let v = Self.vocabulary, r = Self.rank
        for n in 0..<v {
            for p in 0..<v {
                var s: Float = 0
                for k in 0..<r { s += b[n * r + k] * a[k * v + p] }
                m[n * v + p] = s
            }
        }
    }

    /// log softmax of column `p` of M into `column`.
    private func logSoftmaxColumn(_ p: Int) {
        let v = Self.vocabulary
        var top = -Float.infinity
        for n in 0..<v { top = max(top, m[n * v + p]) }
        var sum: Float = 0
        for n in 0..<v { sum += expf(m[n * v + p] - top) }
        let logSum = top + logf(sum)
        for n in 0..<v { column[n] = m[n * v + p] - logSum }
    }

    /// Mean cross-entropy of `pairs` under the current M.
    func loss(_ pairs: [(Int, Int)]) -> Double {
        var total = 0.0
        for (p, n) in pairs {
            logSoftmaxColumn(p)
            total -= Double(column[n])
        }
        return total / Double(pairs.count)
    }

    func meanCrossEntropy(of adapter: LoRAAdapter) throws -> Double {
        setAdapter(adapter)
        return loss(trustPairs)
    }

    func topKLogits(of adapter: LoRAAdapter, k: Int) throws -> TopKLogits {
        setAdapter(adapter)
        let v = Self.vocabulary
        var logits = [Float](repeating: 0, count: reference.positions * v)
        var position = 0
        for batch in reference.batches {
            for token in batch.inputs {
                for n in 0..<v { logits[position * v + n] = m[n * v + Int(token)] }
                position += 1
            }
        }
        return TopKLogits(logits: logits, vocabularySize: v, k: k)
    }

    /// Full-batch gradient descent on the mean cross-entropy of `pairs`, from `start`.
    func train(_ start: LoRAAdapter, on pairs: [(Int, Int)], steps: Int, learningRate: Float) -> LoRAAdapter {
        setAdapter(start)
        let v = Self.vocabulary, r = Self.rank
        var grad = [Float](repeating: 0, count: v * v)
        var counts = [Float](repeating: 0, count: v * v)
        for (p, n) in pairs { counts[n * v + p] += 1 }
        let scale = 1 / Float(pairs.count)
        for _ in 0..<steps {
            // dL/dM[n, p] = Σ_pairs (softmax(M[:, p])[n] − [n = next]) / N
            for p in 0..<v {
                logSoftmaxColumn(p)
                var seen: Float = 0
                for n in 0..<v { seen += counts[n * v + p] }
                for n in 0..<v { grad[n * v + p] = (seen * expf(column[n]) - counts[n * v + p]) * scale }
            }
            // dB = G Aᵀ, dA = Bᵀ G, both from the current A and B.
            var da = [Float](repeating: 0, count: r * v), db = [Float](repeating: 0, count: v * r)
            for n in 0..<v {
                for k in 0..<r {
                    for p in 0..<v {
                        db[n * r + k] += grad[n * v + p] * a[k * v + p]
                        da[k * v + p] += b[n * r + k] * grad[n * v + p]
                    }
                }
            }
            var adapter = Self.emptyAdapter()
            adapter.tensors[0].values = zip(a, da).map { $0 - learningRate * $1 }
            adapter.tensors[1].values = zip(b, db).map { $0 - learningRate * $1 }
            setAdapter(adapter)
        }
        var result = Self.emptyAdapter()
        result.tensors[0].values = a
        result.tensors[1].values = b
        return result
    }
}

/// Text from a Markov chain: after token t comes t + `shift` (mod V) with probability
/// 0.85, otherwise a uniformly drawn token.
func chainText(shift: Int, count: Int, seed: UInt64) -> [Int32] {
    var g = SeededGenerator(seed: seed)
    var t = Int(g.uniform(below: UInt64(BigramModel.vocabulary)))
    var out: [Int32] = []
    for _ in 0..<count {
        out.append(Int32(t))
        t = g.uniform(below: 100) < 85 ? (t + shift) % BigramModel.vocabulary : Int(g.uniform(below: UInt64(BigramModel.vocabulary)))
    }
    return out
}

func pairs(_ tokens: ArraySlice<Int32>) -> [(Int, Int)] {
    zip(tokens.dropLast(), tokens.dropFirst()).map { (Int($0), Int($1)) }
}

@Suite struct BigramGroupsTests {
    /// Four nodes: n0, n1 write shift-1 text, n2, n3 shift-3 text. Each trains on the first
    /// 1,500 tokens of its text from the same start and keeps the last 500 for trust.
    /// The reference text is half of each kind.
    /// Each test trains its own nodes (milliseconds), so that no model's buffers are shared
    /// between tests running in parallel.
    let nodes: [(id: String, model: BigramModel, adapter: LoRAAdapter)] = {
        let shared = chainText(shift: 1, count: 300, seed: 100) + chainText(shift: 3, count: 300, seed: 101)
        let reference = try! ReferenceBatches.derive(seed: 7, tokens: shared, count: 4, batchSize: 4, sequenceLength: 16)
        var start = BigramModel.emptyAdapter()
        start.tensors[0].values = (0..<start.tensors[0].count).map { noise($0, seed: 5) * 0.5 }
        return (0..<4).map { i in
            let text = chainText(shift: i < 2 ? 1 : 3, count: 2000, seed: UInt64(i))
            let model = BigramModel(trustPairs: pairs(text[1500...]), reference: reference)
            let adapter = model.train(start, on: pairs(text[..<1500]), steps: 200, learningRate: 2)
            return ("n\(i)", model, adapter)
        }
    }()

    func row(_ config: TrustConfig, node i: Int) throws -> TrustRecord {
        let own = TrustCandidate(id: nodes[i].id, adapter: nodes[i].adapter)
        let peers = nodes.indices.filter { $0 != i }.map { TrustCandidate(id: nodes[$0].id, adapter: nodes[$0].adapter) }
        return try TrustRow.compute(config: config, round: 1, own: own, peers: peers, evaluator: nodes[i].model)
    }

    func inGroupWeight(_ record: TrustRecord, node i: Int) -> Double {
        let group = i < 2 ? ["n0", "n1"] : ["n2", "n3"]
        return group.map { record.weight(of: $0)! }.reduce(0, +)
    }

    @Test func trainingLearnsEachGroupsText() throws {
        for (i, node) in nodes.enumerated() {
            // The chain's entropy, −0.86875 ln 0.86875 − 7 · 0.01875 ln 0.01875 ≈ 0.644 nats,
            // is the best possible; a model that learned nothing has ln 8 ≈ 2.08.
            let loss = try node.model.meanCrossEntropy(of: node.adapter)
            #expect(loss < 0.9, "node \(i): \(loss)")
        }
    }

    @Test func validationPutsMostWeightInGroup() throws {
        for i in 0..<4 {
            let record = try row(TrustConfig(.validation), node: i)
            #expect(inGroupWeight(record, node: i) >= 0.8, "node \(i): \(record.weights)")
            #expect(abs(total(record.weights) - 1) < 1e-12)
        }
    }

    @Test func predictionPutsMostWeightInGroup() throws {
        for i in 0..<4 {
            let record = try row(TrustConfig(.prediction, logitsTopK: 3), node: i)
            #expect(inGroupWeight(record, node: i) >= 0.8, "node \(i): \(record.weights)")
        }
    }

    @Test func aggregatingByValidationTrustKeepsTheGroupsModel() throws {
        // The personalized adapter of n0 still fits n0's text far better than the other group's.
        let record = try row(TrustConfig(.validation), node: 0)
        let personal = TrustAggregation.aggregate(
            own: TrustCandidate(id: "n0", adapter: nodes[0].adapter),
            peers: (1..<4).map { TrustCandidate(id: nodes[$0].id, adapter: nodes[$0].adapter) }, record: record)
        let own = try nodes[0].model.meanCrossEntropy(of: personal)
        let other = try nodes[2].model.meanCrossEntropy(of: personal)
        #expect(own < 0.9 && other > own + 0.5, "own-group loss \(own), other-group loss \(other)")
    }
}
