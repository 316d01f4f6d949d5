import Foundation
import Gossip
import Learning
import Schemes
import Testing
import Trust

@testable import Node

/// A scheme as the topology builds it, noting its private slots' values at every
/// aggregation — right after the round's update was published.
final class WatchedScheme: PersonalizationScheme, @unchecked Sendable {
    let inner: any PersonalizationScheme
    let privateSlots: [String]
    private let lock = NSLock()
    private var snapshots: [Int: [LoRAAdapter]] = [:]

    init(_ inner: any PersonalizationScheme, privateSlots: [String]) {
        self.inner = inner
        self.privateSlots = privateSlots
    }

    var name: String { inner.name }
    var slots: [AdapterSlotSpec] { inner.slots }
    var publishedSlot: String { inner.publishedSlot }
    var candidateSlot: String { inner.candidateSlot }
    func phases(round: Int) -> [TrainingPhase] { inner.phases(round: round) }
    func aggregates(round: Int) -> Bool { inner.aggregates(round: round) }
    func takeIn(aggregate: LoRAAdapter, model: TransformerModel, round: Int) throws {
        let snapshot = try privateSlots.map { try model.adapter(named: $0) }
        lock.withLock { snapshots[round] = snapshot }
        try inner.takeIn(aggregate: aggregate, model: model, round: round)
    }
    var state: [NamedTensor] { inner.state }
    func restore(state: [NamedTensor]) throws { try inner.restore(state: state) }
    func attach(model: TransformerModel, trustLoss: @escaping () -> Double) throws { try inner.attach(model: model, trustLoss: trustLoss) }
    func beginRound(round: Int, model: TransformerModel) throws { try inner.beginRound(round: round, model: model) }
    func configure(model: TransformerModel, for use: ModelUse) throws { try inner.configure(model: model, for: use) }
    var fusionWeights: [Double]? { inner.fusionWeights }
    var publishedKind: AdapterKind { inner.publishedKind }
    func published(model: TransformerModel) throws -> LoRAAdapter { try inner.published(model: model) }
    func withCandidate<R>(_ candidate: LoRAAdapter, model: TransformerModel, _ body: () throws -> R) throws -> R {
        try inner.withCandidate(candidate, model: model, body)
    }
    func privateValues(round: Int) -> [LoRAAdapter]? { lock.withLock { snapshots[round] } }
}

/// Runs every node of `t` in this process, each mesh's accepted updates captured.
func runCapturing(_ t: Topology, schemes: [(any PersonalizationScheme)?]? = nil) throws
    -> (runtimes: [NodeRuntime], captures: [UpdateCapture])
{
    let captures = t.nodes.map { _ in UpdateCapture() }
    let cluster = try InProcessCluster(t, schemes: schemes, observers: captures.map { c in { c.observe($0) } })
    cluster.start(stop: StopRequest())
    #expect(cluster.wait(seconds: 300))
    for o in cluster.results { #expect(try o?.get() == .finished(round: t.nodes[0].settings.rounds)) }
    let runtimes = cluster.runtimes
    return (runtimes, captures)
}

func topologyText(name: String, settings: String, nodes: Int = 3) -> String {
    var text = """
        name = "\(name)"
        sources = ["prose", "code"]
        [defaults]
        \(settings)
        batch_size = 2
        sequence_length = 16
        round_timeout_ms = 30000
        curve = false
        """
    for k in 0..<nodes {
        text += "\n[[nodes]]\nname = \"n\(k)\"\nendpoint = \"inproc://unused-\(k)\"\nmixture = [\(k % 2 == 0 ? "0.9, 0.1" : "0.1, 0.9")]\n"
    }
    return text + "[edges]\nshape = \"full\"\n"
}

@Suite(.serialized) struct FDLoRARunTests {
    /// Over a whole run (warm-up, federated rounds with synchronisation, a fusion
    /// search every round), every UPDATE that reached a peer holds the global slot's
    /// tensors and nothing else: no tensor name of another slot, and none of the
    /// personal or fused slot's values as they stood when the update was sent.
    @Test(arguments: ["factor", "delta"])
    func thePersonalSlotNeverLeavesTheDevice(fusion: String) throws {
        let t = try preparedTopology(topologyText(name: "fd-private", settings: """
            scheme = "fdlora"
            aggregation = "validation"
            trust = "validation"
            fusion = "\(fusion)"
            fusion_budget = 12
            sync_every = 1
            outer_lr = 0.7
            outer_momentum = 0.9
            rounds = 4
            warmup_rounds = 1
            local_steps = 3
            lora = { rank = 2, alpha = 4, dropout = 0 }
            """), bytesPerNode: 4000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let privateSlots = fusion == "factor" ? ["personal", "fused"] : ["personal"]
        let schemes = try t.nodes.map { n in
            WatchedScheme(try Schemes.make("fdlora", settings: n.settings.schemeSettings), privateSlots: privateSlots)
        }
        let (runtimes, captures) = try runCapturing(t, schemes: schemes)

        let keys = try NodeRuntime.memberKeys(t)
        let global = try runtimes[0].nodeModel.model.adapter(named: "global")
        var seen = 0
        for (receiver, capture) in captures.enumerated() {
            for sender in t.nodes.indices where sender != receiver {
                let fromSender = capture.updates.filter { $0.origin == keys[sender] }
                #expect(Set(fromSender.map(\.round)) == [2, 3, 4], "every federated round's update arrived")
                for update in fromSender {
                    let file = try SafeTensors.decode(update.payload.bytes)
                    #expect(file.metadata["starling.slot"] == "global")
                    #expect(file.metadata["starling.scheme"] == "fdlora")
                    #expect(file.tensors.map(\.name) == global.tensors.map { PEFTAdapter.peftName($0.name) })
                    #expect(file.tensors.map(\.shape) == global.tensors.map(\.shape))
                    let sentBits = file.tensors.flatMap(\.values).map(\.bitPattern)
                    for (k, privateSlot) in try #require(schemes[sender].privateValues(round: Int(update.round))).enumerated() {
                        let privateBits = Set(privateSlot.tensors.flatMap(\.values).filter { $0 != 0 }.map(\.bitPattern))
                        // The personal slot always holds values; the fused one is all zero when the search chose (0, 0).
                        if k == 0 { #expect(privateBits.count > 100, "the personal slot has trained values") }
                        let shared = sentBits.filter(privateBits.contains).count
                        #expect(Double(shared) <= 0.01 * Double(privateBits.count), "\(shared) of \(privateBits.count) private values were sent")
                    }
                    seen += 1
                }
            }
        }
        #expect(seen == 3 * 2 * 3)
        // The served model's weights are in every round's metrics after the warm-up.
        let metrics = try StateDirectory(path: t.stateDirectory(of: 0)).metrics()
        #expect(metrics.map { $0.fusionWeights != nil } == [true, true, true, true])
        for m in metrics.dropFirst() { #expect(m.fusionWeights!.allSatisfy { abs($0) <= 1.5 }) }
    }

    /// FDLoRA with η = 1, μ = 0, uniform averaging and the served model fixed at
    /// (w1, w2) = (1, 0) is collaborative fine-tuning with fedavg: the same global
    /// adapter, bit for bit, and the same test losses every round, on the same seeds.
    @Test func withUnitOuterStepAndFusionOneZeroFDLoRAIsFedAvg() throws {
        let common = """
            rounds = 3
            warmup_rounds = 0
            local_steps = 4
            lora = { rank = 2, alpha = 4, dropout = 0.1 }
            """
        let collaborative = try preparedTopology(topologyText(name: "reduction", settings: """
            scheme = "collaborative"
            trust = "fedavg"
            \(common)
            """), bytesPerNode: 4000)
        let fdlora = try preparedTopology(topologyText(name: "reduction", settings: """
            scheme = "fdlora"
            trust = "validation"
            aggregation = "fedavg"
            outer_lr = 1
            outer_momentum = 0
            fusion_weights = [1, 0]
            \(common)
            """), bytesPerNode: 4000)
        defer {
            try? FileManager.default.removeItem(atPath: collaborative.baseDirectory)
            try? FileManager.default.removeItem(atPath: fdlora.baseDirectory)
        }
        let a = try runCapturing(collaborative).runtimes, b = try runCapturing(fdlora).runtimes
        for i in collaborative.nodes.indices {
            let shared = try a[i].nodeModel.model.adapter(named: "default")
            let global = try b[i].nodeModel.model.adapter(named: "global")
            #expect(shared.tensors.map(\.name) == global.tensors.map(\.name))
            let identical = shared.tensors.map { $0.values.map(\.bitPattern) } == global.tensors.map { $0.values.map(\.bitPattern) }
            #expect(identical, "node \(i): the global adapter differs from collaborative's")
            let lossesA = try StateDirectory(path: collaborative.stateDirectory(of: i)).metrics().map(\.testLoss)
            let lossesB = try StateDirectory(path: fdlora.stateDirectory(of: i)).metrics().map(\.testLoss)
            #expect(lossesA == lossesB)
            #expect(lossesA.count == 3)
        }
    }
}
