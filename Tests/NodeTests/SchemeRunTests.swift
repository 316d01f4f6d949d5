import Foundation
import Gossip
import Learning
import Schemes
import Testing
import Trust

@testable import Node

/// A scheme with a second slot that trains every round and is never published: the
/// shape of FDLoRA's personal adapter. It notes the private slot's values at every
/// aggregation, which is right after the round's update was published.
final class PrivateSlotScheme: PersonalizationScheme, @unchecked Sendable {
    let lora: LoRAConfig
    let steps: Int
    private let lock = NSLock()
    private var snapshots: [Int: LoRAAdapter] = [:]

    init(lora: LoRAConfig, steps: Int) {
        self.lora = lora
        self.steps = steps
    }

    var name: String { Collaborative.schemeName }
    var slots: [AdapterSlotSpec] {
        [AdapterSlotSpec(name: "default", lora: lora),
         AdapterSlotSpec(name: "private", lora: LoRAConfig(rank: 3, alpha: 6, dropout: 0, targets: [.attentionOutput, .mlpIn]))]
    }
    var publishedSlot: String { "default" }
    var candidateSlot: String { "default" }
    func phases(round: Int) -> [TrainingPhase] {
        [TrainingPhase(name: "shared", trains: [.slot("default")], steps: steps),
         TrainingPhase(name: "private", trains: [.slot("private")], steps: steps)]
    }
    func aggregates(round: Int) -> Bool { round > 1 }
    func takeIn(aggregate: LoRAAdapter, model: TransformerModel, round: Int) throws {
        let snapshot = try model.adapter(named: "private")
        lock.withLock { snapshots[round] = snapshot }
        try model.setAdapter(aggregate, named: "default")
    }
    var state: [NamedTensor] { [] }
    func restore(state: [NamedTensor]) throws {}
    func privateSlot(round: Int) -> LoRAAdapter? { lock.withLock { snapshots[round] } }
}

/// Every update a node's mesh accepted, as it arrived.
final class UpdateCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var captured: [VerifiedUpdate] = []
    func observe(_ event: MeshEvent) {
        if case .update(let update, _) = event { lock.withLock { captured.append(update) } }
    }
    var updates: [VerifiedUpdate] { lock.withLock { captured } }
}

@Suite(.serialized) struct SchemeRunTests {
    @Test func aSlotThatIsNotPublishedNeverLeavesTheDevice() throws {
        let t = try preparedTopology("""
            name = "private"
            sources = ["prose", "code"]
            [defaults]
            trust = "fedavg"
            rounds = 4
            warmup_rounds = 1
            local_steps = 3
            batch_size = 2
            sequence_length = 16
            round_timeout_ms = 20000
            curve = false
            lora = { rank = 2, alpha = 4, dropout = 0 }
            [[nodes]]
            name = "a"
            endpoint = "inproc://unused-a"
            [[nodes]]
            name = "b"
            endpoint = "inproc://unused-b"
            [edges]
            shape = "full"
            """, bytesPerNode: 4000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let schemes = t.nodes.map { _ in PrivateSlotScheme(lora: LoRAConfig(rank: 2, alpha: 4, dropout: 0), steps: 3) }
        let captures = t.nodes.map { _ in UpdateCapture() }
        let cluster = try InProcessCluster(t, schemes: schemes, observers: captures.map { c in { c.observe($0) } })
        cluster.start(stop: StopRequest())
        #expect(cluster.wait(seconds: 240))
        for o in cluster.results { #expect(try o?.get() == .finished(round: 4)) }

        let keys = try NodeRuntime.memberKeys(t)
        let shared = try LoRAAdapter(config: LoRAConfig(rank: 2, alpha: 4, dropout: 0), tensors: cluster.runtimes[0].nodeModel.model.adapter(named: "default").tensors)
        var seen = 0
        for (receiver, capture) in captures.enumerated() {
            let sender = 1 - receiver
            let fromSender = capture.updates.filter { $0.origin == keys[sender] }
            #expect(Set(fromSender.map(\.round)) == [2, 3, 4], "every aggregating round's update arrived")
            for update in fromSender {
                let file = try SafeTensors.decode(update.payload.bytes)
                // Only the published slot's tensors: its names and shapes, in order, and nothing more.
                #expect(file.metadata["starling.slot"] == "default")
                #expect(file.tensors.map(\.name) == shared.tensors.map { PEFTAdapter.peftName($0.name) })
                #expect(file.tensors.map(\.shape) == shared.tensors.map(\.shape))
                // None of the private slot's values as it stood when the update was sent.
                let privateSlot = try #require(schemes[sender].privateSlot(round: Int(update.round)))
                let privateBits = Set(privateSlot.tensors.flatMap(\.values).filter { $0 != 0 }.map(\.bitPattern))
                let sentBits = file.tensors.flatMap(\.values).map(\.bitPattern)
                let shared = sentBits.filter(privateBits.contains).count
                #expect(Double(shared) < 0.01 * Double(privateBits.count), "\(shared) of \(privateBits.count) private values were sent")
                seen += 1
            }
        }
        #expect(seen >= 6)
    }

    @Test func aNodeStoppedAfterRoundThreeAndResumedMatchesOneThatRanThrough() throws {
        let body = """
            name = "resume"
            sources = ["prose"]
            [defaults]
            trust = "validation"
            rounds = 6
            warmup_rounds = 1
            local_steps = 4
            batch_size = 2
            sequence_length = 16
            round_timeout_ms = 200
            curve = false
            lora = { rank = 2, alpha = 4, dropout = 0.2 }
            [[nodes]]
            name = "solo"
            endpoint = "inproc://resume-solo"
            """
        let straight = try preparedTopology(body, bytesPerNode: 4000)
        let resumed = try preparedTopology(body, bytesPerNode: 4000)
        defer {
            try? FileManager.default.removeItem(atPath: straight.baseDirectory)
            try? FileManager.default.removeItem(atPath: resumed.baseDirectory)
        }
        #expect(try NodeRuntime(topology: straight, index: 0, context: try ZMQContext(ioThreads: 1)).run(stop: StopRequest()) == .finished(round: 6))

        // The second run is stopped as soon as round 3 is committed, then started afresh.
        let state = StateDirectory(path: resumed.stateDirectory(of: 0))
        let stop = StopRequest()
        let watcher = Thread {
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline, ((try? state.progress())??.round ?? 0) < 3 { usleep(200) }
            stop.request()
        }
        watcher.start()
        let first = try NodeRuntime(topology: resumed, index: 0, context: try ZMQContext(ioThreads: 1)).run(stop: stop)
        guard case .stopped(let at) = first else {
            Issue.record("the first run was not stopped: \(first)")
            return
        }
        #expect(at >= 3 && at < 6)
        #expect(try NodeRuntime(topology: resumed, index: 0, context: try ZMQContext(ioThreads: 1)).run(stop: StopRequest()) == .finished(round: 6))

        let a = StateDirectory(path: straight.stateDirectory(of: 0)), b = state
        let folderA = FileSystem.join(a.checkpointsPath, "round-000006"), folderB = FileSystem.join(b.checkpointsPath, "round-000006")
        for file in [PEFTAdapter.weightsFileName, "optimizer.safetensors"] {
            let bytesA = try FileSystem.readBytes(FileSystem.join(folderA, file))
            let bytesB = try FileSystem.readBytes(FileSystem.join(folderB, file))
            let identical = bytesA == bytesB
            #expect(identical, "\(file) differs after the resumed run")
        }
        #expect(try a.progress()?.dropoutPosition == b.progress()?.dropoutPosition)
        #expect(try a.metrics().map(\.testLoss) == b.metrics().map(\.testLoss))
    }
}
