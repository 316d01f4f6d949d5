// A node's model as its state folder last committed it, outside the round loop: what
// `eval` and `generate` serve for a node, and what an experiment takes apart after a
// run. The scheme's own state (FDLoRA's fusion weights, PFTT's adapter) is restored
// with the slots, so the served model is the scheme's: for `fdlora` the fused one.

import Foundation
import Learning
import Schemes

extension NodeModel {
    /// Node `index` of `topology` with the checkpoint of its last committed round
    /// restored and the model set up as served. `stateDirectory` replaces the
    /// topology's folder for the node.
    /// - Throws: `NodeError` when the node has committed no round.
    public static func committed(topology: Topology, index: Int, stateDirectory: String? = nil) throws -> NodeModel {
        let node = topology.nodes[index]
        let state = StateDirectory(path: stateDirectory ?? topology.stateDirectory(of: index))
        let nodeModel = try NodeModel(
            settings: node.settings, dataPath: topology.resolve(node.data), baseDirectory: topology.baseDirectory,
            nodeIndex: index, referencePath: node.settings.reference.map(topology.resolve))
        guard let progress = try state.progress(), let checkpoint = try state.loadCheckpoint(progress, slots: nodeModel.model.slotNames)
        else {
            throw NodeError("node \(node.name): \(state.path) holds no completed round")
        }
        try nodeModel.restore(checkpoint)
        try nodeModel.scheme.configure(model: nodeModel.model, for: .serving)
        return nodeModel
    }

    /// Mean cross-entropy on the test split of the model as it is set up now (no
    /// reconfiguration, unlike `testLoss`).
    public func testLossAsConfigured() -> Double { Double(model.evaluateLoss(batches: testBatches)) }
}

extension NodeModel {
    /// The test split's evaluation batches: those the test perplexity of the node's
    /// metrics and status is measured on.
    public var testEvaluationBatches: [TokenBatch] { testBatches }
}
