import Foundation
import Learning
import Testing
import Trust

@testable import Node

/// Trust computed with real models: four nodes, two on arithmetic and two on an invented
/// language, each with LoRA trained on its own generated text.
@Suite struct TrustWithModelsTests {
    let learners: [NodeModel]

    init() throws { learners = try Self.trainedLearners() }

    static func trainedLearners() throws -> [NodeModel] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-trust-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var settings = NodeSettings()
        settings.sequenceLength = 32
        settings.batchSize = 4
        settings.localSteps = 30
        settings.rounds = 1
        settings.learningRate = 0.01
        settings.lora = LoRAConfig(rank: 4, alpha: 32, dropout: 0)
        let mixtures: [[Double]] = [[1, 0], [1, 0], [0, 1], [0, 1]]
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try mixtures.enumerated().map { i, row in
            let path = dir + "/node\(i).txt"
            let text = SyntheticText.text(sources: [.arithmetic, .lingua], mixture: row, byteCount: 20_000, seed: 7, nodeIndex: i)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let learner = try NodeModel(settings: settings, dataPath: path, baseDirectory: dir, nodeIndex: i, referencePath: nil)
            _ = try learner.train(round: 1) { false }
            return learner
        }
    }

    /// Node i's row over all four nodes (itself first in the computation, reordered to node order).
    func row(_ i: Int, _ strategy: String) throws -> [Double] {
        let adapters = learners.map { $0.model.adapter() }
        let own = TrustCandidate(id: "n\(i)", adapter: adapters[i])
        let peers = adapters.indices.filter { $0 != i }.map { TrustCandidate(id: "n\($0)", adapter: adapters[$0]) }
        let record = try TrustRow.compute(
            config: try TrustConfig(parsing: strategy), round: 1, own: own, peers: peers, evaluator: learners[i].evaluator())
        #expect(learners[i].model.adapter() == adapters[i], "scoring candidates leaves the node's own adapter in place")
        return (0..<4).map { record.weight(of: "n\($0)") ?? 0 }
    }

    @Test(arguments: ["validation", "prediction"])
    func eachNodePutsMostWeightOnItsOwnGroup(_ strategy: String) throws {
        for i in 0..<4 {
            let weights = try row(i, strategy)
            let group = i < 2 ? [0, 1] : [2, 3]
            let inGroup = group.reduce(0) { $0 + weights[$1] }
            #expect(abs(weights.reduce(0, +) - 1) < 1e-9)
            #expect(inGroup >= 0.8, "node \(i) \(strategy): \(weights)")
        }
    }

    @Test func evaluatingCandidatesReusesTheNodesModel() throws {
        let learner = learners[0]
        let before = ObjectIdentifier(learner.model)
        let own = learner.model.adapter()
        let peer = learners[2].model.adapter()
        let a = try learner.evaluator().meanCrossEntropy(of: peer)
        let b = try learner.evaluator().meanCrossEntropy(of: own)
        #expect(ObjectIdentifier(learner.model) == before)
        #expect(a > b, "a lingua adapter predicts arithmetic worse than the arithmetic node's own")
        // Evaluation is deterministic: the same adapter gives the same loss.
        #expect(try learner.evaluator().meanCrossEntropy(of: peer) == a)
        #expect(learner.model.adapter() == own)
    }
}
