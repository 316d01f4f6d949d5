import Foundation
import Learning
import Testing
import Trust

@testable import Node

@Suite struct StateDirectoryTests {
    func folder() throws -> StateDirectory {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("starling-state-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return StateDirectory(path: path)
    }

    func adapter(_ value: Float) -> LoRAAdapter {
        let config = LoRAConfig(rank: 1, alpha: 2, dropout: 0, targets: [.attentionQKV])
        return LoRAAdapter(config: config, tensors: [
            NamedTensor(name: LoRAAdapter.tensorName(layer: 0, target: .attentionQKV, isB: false), shape: [1, 2], values: [value, 1]),
            NamedTensor(name: LoRAAdapter.tensorName(layer: 0, target: .attentionQKV, isB: true), shape: [6, 1], values: [Float](repeating: value, count: 6)),
        ])
    }

    func record(_ round: Int) -> TrustRecord {
        TrustRecord(round: round, strategy: try! TrustConfig(parsing: "fedavg"), candidates: ["a", "b"], scores: [nil, nil],
                    weights: [0.5, 0.5], exclusions: [], milliseconds: 1)
    }

    func metrics(_ round: Int) -> RoundMetrics {
        RoundMetrics(round: round, trainLoss: 2, testLoss: 1, aggregated: round > 1, candidates: 1, seconds: 1,
                     trainingSeconds: 0.5, waitingSeconds: 0.2, trustSeconds: 0.1)
    }

    @Test func committedRoundReadsBack() throws {
        let state = try folder()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        #expect(try state.progress() == nil)
        let optimizer = OptimizerState(step: 20, groups: ["slot.default": GroupMoments(steps: 20, m: [1, 2, 3], v: [4, 5, 6])])
        let checkpoint = ModelCheckpoint(
            adapters: [("default", adapter(0.5)), ("personal", adapter(0.25))], optimizer: optimizer,
            schemeState: [NamedTensor(name: "fusion.w", shape: [2], values: [1, 0.5])], dropoutPosition: 41)
        try state.commit(progress: NodeProgress(round: 2, step: 20, checkpoint: nil), checkpoint: checkpoint,
                         baseModel: "random:tiny", trustHistory: [record(2)], metrics: [metrics(1), metrics(2)])
        let progress = try #require(try state.progress())
        #expect(progress == NodeProgress(round: 2, step: 20, checkpoint: "round-000002", dropoutPosition: 41))
        #expect(try state.loadCheckpoint(progress, slots: ["default", "personal"]) == checkpoint)
        #expect(try state.trustHistory() == [record(2)])
        #expect(try state.metrics() == [metrics(1), metrics(2)])
    }

    @Test func anUncommittedRoundIsDiscarded() throws {
        let state = try folder()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        let optimizer = OptimizerState(step: 10, groups: ["slot.default": GroupMoments(steps: 10, m: [0], v: [0])])
        try state.commit(progress: NodeProgress(round: 1, step: 10, checkpoint: nil),
                         checkpoint: ModelCheckpoint(adapters: [("default", adapter(1))], optimizer: optimizer, schemeState: [], dropoutPosition: 0),
                         baseModel: "b", trustHistory: [], metrics: [metrics(1)])
        // A crash after round 2's checkpoint and histories were written, before state.json:
        let orphan = FileSystem.join(state.checkpointsPath, "round-000002")
        try PEFTAdapter.save(adapter(2), to: orphan)
        try FileSystem.writeAtomically(Array((try record(2).jsonLine() + "\n").utf8), to: state.trustHistoryPath)
        let m2 = String(decoding: try JSONEncoder().encode(metrics(2)), as: UTF8.self)
        let m1 = String(decoding: try JSONEncoder().encode(metrics(1)), as: UTF8.self)
        try FileSystem.writeAtomically(Array("\(m1)\n\(m2)\n".utf8), to: state.metricsPath)
        let temporary = FileSystem.join(state.path, FileSystem.temporaryPrefix + "123-state.json")
        try FileSystem.writeAtomically(Array("{".utf8), to: temporary)

        let progress = try #require(try state.progress())
        #expect(progress.round == 1)
        #expect(try state.trustHistory(upTo: progress.round) == [])
        #expect(try state.metrics(upTo: progress.round) == [metrics(1)])
        #expect(try state.loadCheckpoint(progress, slots: ["default"])?.adapters.first?.adapter == adapter(1))
        state.removeCheckpoints(except: progress.checkpoint)
        #expect(try FileSystem.contentsOfDirectory(state.checkpointsPath) == ["round-000001"])
        #expect(!FileSystem.exists(temporary))
    }

    @Test func aCorruptStateFileIsAClearError() throws {
        let state = try folder()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        try FileSystem.writeAtomically(Array("not json".utf8), to: state.progressPath)
        #expect(throws: StateError.self) { try state.progress() }
        do { _ = try state.progress() } catch let e as StateError {
            #expect(e.path == state.progressPath)
            #expect(e.reason.hasPrefix("cannot be read"))
        }
    }
}
