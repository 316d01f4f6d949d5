import Foundation
import Gossip
import Learning
import Schemes
import Testing
import Trust

@testable import Node

@Suite(.serialized) struct PFTTRunTests {
    /// Over a whole PFTT run, every UPDATE that reached a peer is the bottleneck
    /// adapter and nothing else: its names and shapes only, and none of the local
    /// LoRA's values as they stood when the update was sent; both parts trained.
    @Test func theLocalLoRANeverLeavesTheDevice() throws {
        let t = try preparedTopology(topologyText(name: "pftt-private", settings: """
            scheme = "pftt"
            aggregation = "fedavg"
            trust = "validation"
            bottleneck = { width = 4 }
            rounds = 4
            warmup_rounds = 1
            local_steps = 3
            lora = { rank = 2, alpha = 4, dropout = 0 }
            """), bytesPerNode: 4000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let schemes = try t.nodes.map { n in WatchedScheme(try Schemes.make("pftt", settings: n.settings.schemeSettings), privateSlots: ["local"]) }
        let (runtimes, captures) = try runCapturing(t, schemes: schemes)

        let keys = try NodeRuntime.memberKeys(t)
        let adapter = try #require(runtimes[0].nodeModel.model.bottleneck(named: "adapter")).tensors
        #expect(adapter.map(\.shape) == [[4, 32], [32, 4], [4, 32], [32, 4]])
        #expect(adapter[1].values.contains { $0 != 0 }, "the up projections trained away from zero")
        var seen = 0
        for (receiver, capture) in captures.enumerated() {
            for sender in t.nodes.indices where sender != receiver {
                let fromSender = capture.updates.filter { $0.origin == keys[sender] }
                #expect(Set(fromSender.map(\.round)) == [2, 3, 4])
                for update in fromSender {
                    let file = try SafeTensors.decode(update.payload.bytes)
                    #expect(file.metadata["starling.kind"] == "bottleneck" && file.metadata["starling.slot"] == "adapter")
                    #expect(file.tensors.map(\.name).sorted() == adapter.map(\.name).sorted())
                    #expect(!file.tensors.contains { $0.name.contains("lora") })
                    let local = try #require(schemes[sender].privateValues(round: Int(update.round))?.first)
                    let localBits = Set(local.tensors.flatMap(\.values).filter { $0 != 0 }.map(\.bitPattern))
                    #expect(localBits.count > 100)
                    let sentBits = file.tensors.flatMap(\.values).map(\.bitPattern)
                    let shared = sentBits.filter(localBits.contains).count
                    #expect(Double(shared) <= 0.01 * Double(localBits.count), "\(shared) of \(localBits.count) local values were sent")
                    seen += 1
                }
            }
        }
        #expect(seen == 3 * 2 * 3)
        // After fedavg every node holds the same adapter (full mesh, all updates in), up to
        // the order each node sums in (its own update first).
        let others = try runtimes.dropFirst().map { try #require($0.nodeModel.model.bottleneck(named: "adapter")).tensors }
        for o in others {
            let gap = zip(o.flatMap(\.values), adapter.flatMap(\.values)).map { abs($0 - $1) }.max() ?? .infinity
            #expect(gap < 1e-6, "largest difference \(gap)")
        }
    }
}

@Suite struct PFTTCheckpointTests {
    /// A PFTT node's committed round — the local LoRA, the bottleneck adapter (the
    /// scheme's state) and both groups' optimizer moments — comes back whole in a fresh
    /// model, and the next round trains the same in both.
    @Test func aRestoredNodeContinuesWhereItStopped() throws {
        let t = try preparedTopology(topologyText(name: "pftt-resume", settings: """
            scheme = "pftt"
            bottleneck = { width = 4 }
            rounds = 3
            warmup_rounds = 1
            local_steps = 3
            lora = { rank = 2, alpha = 4, dropout = 0 }
            """, nodes: 1), bytesPerNode: 4000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        func make() throws -> NodeModel {
            try NodeModel(settings: t.nodes[0].settings, dataPath: t.resolve(t.nodes[0].data), baseDirectory: t.baseDirectory,
                          nodeIndex: 0, referencePath: nil)
        }
        let first = try make()
        _ = try first.train(round: 1) { false }
        let committed = try first.checkpoint()
        #expect(committed.schemeState.map(\.name) == first.model.bottleneck(named: "adapter")!.tensors.map(\.name))
        let second = try make()
        try second.restore(committed)
        #expect(try second.checkpoint() == committed)
        let a = try first.train(round: 2) { false }, b = try second.train(round: 2) { false }
        #expect(a.meanLoss == b.meanLoss)
        #expect(first.model.bottleneck(named: "adapter")!.tensors == second.model.bottleneck(named: "adapter")!.tensors)
    }
}
