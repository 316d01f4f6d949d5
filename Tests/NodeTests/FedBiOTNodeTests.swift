import Foundation
import Gossip
import Learning
import Schemes
import Testing

@testable import Node

/// topologies/fedbiot-5.toml run by the node runtime in this process: one aligner
/// with the full model, four clients that hold only the emulator cut from it.
@Suite(.serialized) struct FedBiOTNodeTests {
    /// The shipped topology, in a folder of its own, with `rounds` rounds.
    static func topology(rounds: Int) throws -> Topology {
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("topologies/fedbiot-5.toml").path
        var text = try String(contentsOfFile: shipped, encoding: .utf8).replacingOccurrences(of: "\"../", with: "\"./")
        text = text.replacingOccurrences(of: "rounds = 4", with: "rounds = \(rounds)")
        return try preparedTopology(text, bytesPerNode: 6_000)
    }

    @Test func clientsTrainOnTheEmulatorAndTakeTheAlignersEmulatorIn() throws {
        let rounds = 3
        let t = try Self.topology(rounds: rounds)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        #expect(try t.nodes.map(\.settings.role) == [.aligner, .client, .client, .client, .client])
        let cluster = try InProcessCluster(t)
        cluster.start(stop: StopRequest())
        #expect(try cluster.wait(seconds: 240))
        #expect(try cluster.failures() == [])
        for o in cluster.results { #expect(try o?.get() == .finished(round: rounds)) }
        let aligner = cluster.runtimes[0], clients = Array(cluster.runtimes.dropFirst())

        // The clients never held the full model: four blocks on the aligner, three (0, 2, 3) on each client.
        #expect(try aligner.nodeModel.model.config.blocks == [0, 1, 2, 3])
        for c in clients { #expect(try c.nodeModel.model.config.blocks == [0, 2, 3]) }
        // One base by the shared part's digest, so no update was refused as another base.
        #expect(try Set(cluster.runtimes.map(\.nodeModel.baseDigest)).count == 1)

        let plan = try #require(aligner.nodeModel.emulatorPlan)
        let alignerEmulator = try #require(aligner.nodeModel.aligner).emulator
        let sent = try alignerEmulator.blockParameters(plan.keptBlocks)
        for c in clients {
            let metrics = try StateDirectory(path: c.state.path).metrics()
            #expect(try metrics.count == rounds)
            let adapEmu = metrics.map { $0.schemeFigures?["adap_emu_ppl"] ?? .nan }
            #expect(try adapEmu.allSatisfy(\.isFinite))
            // The emulator is the aligner's last one (f16 on the wire), not the one built at the start.
            #expect(try metrics.last?.schemeFigures?["emulator_version"] == Double(rounds))
            let held = try c.nodeModel.model.blockParameters(plan.keptBlocks)
            for (a, b) in zip(sent, held) {
                #expect(try a.name == b.name)
                #expect(try zip(a.values, b.values).allSatisfy { abs($0 - $1) <= 1e-3 * max(abs($0), 1e-2) })
            }
            #expect(try c.currentStatus().schemeFigures?["adap_emu_ppl"] == adapEmu.last)
            // Only the aligner published chunks; none was refused.
            #expect(try c.currentStatus().rejections["notPublisher"] == nil)
            #expect(try FileManager.default.fileExists(atPath: c.state.path + "/emulator.safetensors"))
        }
        // The aligned emulator moved away from the cut the clients started from.
        let full = try Checkpoint.load(from: t.resolve(t.nodes[0].settings.baseModel)).parameters
        #expect(try sent.allSatisfy { full[$0.name] != nil })
        #expect(try sent.contains { full[$0.name]?.values != $0.values })
        let alignerMetrics = try StateDirectory(path: aligner.state.path).metrics()
        let adapFu = alignerMetrics.map { $0.schemeFigures?["adap_fu_ppl"] ?? .nan }
        #expect(try adapFu.count == rounds && adapFu.allSatisfy(\.isFinite))
        #expect(try alignerMetrics.allSatisfy { $0.candidates == 4 })
        print("fedbiot-5 in-process: AdapFu \(adapFu), AdapEmu \(clients.map { c in (try? StateDirectory(path: c.state.path).metrics().map { $0.schemeFigures?["adap_emu_ppl"] ?? .nan }) ?? [] })")
    }
}
