import Foundation
import Gossip
import Learning
import Schemes
import Testing
import Trust

@testable import Node

/// A fedbiot topology run by the node runtime in this process: one aligner with the
/// full model (four small blocks, drawn at random), four clients that hold only the
/// emulator cut from it, the emulator sent in several chunks per version, the test text
/// read after the second round only (`test_every = 2`).
@Suite(.serialized) struct FedBiOTNodeTests {
    static let rounds = 2

    /// The topology, its full base written first so that preparation only cuts the
    /// clients' emulator from it and writes the text; `trust` and `rounds` for every node,
    /// `extra` settings lines under [defaults].
    static func topology(trust: String = "fedavg", rounds: Int = Self.rounds, extra: String = "") throws -> Topology {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-fedbiot-\(UUID())").path
        let full = TransformerModel(
            config: ModelConfig(layers: 4, heads: 2, channels: 32, maxSequenceLength: 16, vocabularySize: 256), lora: nil, seed: 11)
        try Checkpoint.save(full, to: dir + "/models/full")
        var text = """
            name = "fedbiot-tiny"
            sources = ["arithmetic", "lingua"]
            [defaults]
            scheme = "fedbiot"
            base_model = "models/emulator"
            trust = "\(trust)"
            \(extra)
            warmup_rounds = 0
            local_steps = 2
            rounds = \(rounds)
            learning_rate = 0.005
            batch_size = 2
            sequence_length = 16
            test_every = 2
            round_timeout_ms = 30000
            heartbeat_ms = 100
            max_payload_bytes = 8192
            curve = false
            lora = { rank = 2, alpha = 8, dropout = 0.0 }
            fedbiot = { adapter_blocks = 1, drop_ratio = 0.34, align_steps = 2, align_lr = 0.01, emulator_every = 1, emulator_dtype = "f16" }
            [edges]
            pairs = [["aligner", "alice"], ["aligner", "bob"], ["aligner", "carol"], ["aligner", "dave"]]
            [[nodes]]
            name = "aligner"
            role = "aligner"
            base_model = "models/full"
            endpoint = "inproc://unused-aligner"
            data = "data/aligner.txt"
            public_data = "data/aligner.txt"
            mixture = [0.5, 0.5]

            """
        for (name, mixture) in [("alice", "[1, 0]"), ("bob", "[1, 0]"), ("carol", "[0, 1]"), ("dave", "[0, 1]")] {
            text += "[[nodes]]\nname = \"\(name)\"\nendpoint = \"inproc://unused-\(name)\"\ndata = \"data/\(name).txt\"\nmixture = \(mixture)\n"
        }
        try text.write(toFile: dir + "/net.toml", atomically: true, encoding: .utf8)
        let t = try TopologyParser.load(path: dir + "/net.toml")
        try ClusterPreparation.prepare(t, bytesPerNode: 2_000, fresh: false)
        return t
    }

    @Test func clientsTrainOnTheEmulatorAndTakeTheAlignersEmulatorIn() throws {
        let rounds = Self.rounds
        let t = try Self.topology()
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        #expect(t.nodes.map(\.settings.role) == [.aligner, .client, .client, .client, .client])
        let cluster = try InProcessCluster(t)
        cluster.start(stop: StopRequest())
        #expect(cluster.wait(seconds: 120))
        #expect(cluster.failures() == [])
        for o in cluster.results { #expect(try o?.get() == .finished(round: rounds)) }
        let aligner = cluster.runtimes[0], clients = Array(cluster.runtimes.dropFirst())

        // The clients never held the full model: four blocks on the aligner, three (0, 2, 3) on each client.
        #expect(aligner.nodeModel.model.config.blocks == [0, 1, 2, 3])
        for c in clients { #expect(c.nodeModel.model.config.blocks == [0, 2, 3]) }
        // One base by the shared part's digest (so no update was refused as another
        // base), the same digest the experiment names, and the aligned emulator's blocks
        // do not enter it.
        #expect(Set(cluster.runtimes.map(\.nodeModel.baseDigest)).count == 1)
        let scheme = try #require(aligner.nodeModel.scheme as? FedBiOT)
        let alignerEmulator = try #require(aligner.nodeModel.aligner).emulator
        #expect(scheme.baseDigest(of: alignerEmulator) == clients[0].nodeModel.baseDigest)
        #expect(alignerEmulator.baseDigest() != clients[0].nodeModel.model.baseDigest())

        let plan = try #require(aligner.nodeModel.emulatorPlan)
        let sent = try alignerEmulator.blockParameters(plan.keptBlocks)
        let published = try FileSystem.readBytes(aligner.state.path + "/emulator.safetensors")
        // Several chunks per version: each must have come and been put together.
        #expect(published.count > 3 * 8192)
        for c in clients {
            let metrics = try StateDirectory(path: c.state.path).metrics()
            #expect(metrics.count == rounds)
            // AdapEmu is the client's own test perplexity, in the rounds that read the test
            // text; the round that does not has the other figures and no perplexity.
            let adapEmu = metrics.map { $0.schemeFigures?["adap_emu_ppl"] }
            #expect(metrics.map { $0.testLoss != nil } == [false, true])
            #expect(adapEmu[0] == nil && metrics[0].schemeFigures?["emulator_version"] == 1)
            #expect(adapEmu[1] == metrics[1].testLoss.map(exp) && adapEmu[1].map { $0.isFinite && $0 > 1 } == true)
            // The emulator is the aligner's last one, verified by digest as a whole: the
            // file kept is the aligner's byte for byte, and the blocks in use are its
            // blocks (f16 on the wire).
            #expect(metrics.last?.schemeFigures?["emulator_version"] == Double(rounds))
            #expect(try FileSystem.readBytes(c.state.path + "/emulator.safetensors") == published)
            let held = try c.nodeModel.model.blockParameters(plan.keptBlocks)
            for (a, b) in zip(sent, held) {
                #expect(a.name == b.name)
                #expect(zip(a.values, b.values).allSatisfy { abs($0 - $1) <= 1e-3 * max(abs($0), 1e-2) })
            }
            #expect(c.currentStatus().schemeFigures?["adap_emu_ppl"] == adapEmu[1])
            // Only the aligner published chunks; none was refused, none is left half assembled.
            #expect(c.currentStatus().rejections["notPublisher"] == nil)
            #expect(metrics.last?.schemeFigures?.keys.contains { $0.hasPrefix("emulator_refused") } == false)
            let left = try FileManager.default.contentsOfDirectory(atPath: c.state.path + "/emulator").filter { $0.hasSuffix(".chunk") }
            #expect(left == [])
        }
        // The aligned emulator moved away from the cut the clients started from.
        let full = try Checkpoint.load(from: t.resolve(t.nodes[0].settings.baseModel)).parameters
        #expect(sent.allSatisfy { full[$0.name] != nil })
        #expect(sent.contains { full[$0.name]?.values != $0.values })
        let alignerMetrics = try StateDirectory(path: aligner.state.path).metrics()
        let adapFu = alignerMetrics.map { $0.schemeFigures?["adap_fu_ppl"] }
        #expect(adapFu.count == rounds && adapFu[0] == nil && alignerMetrics[0].schemeFigures?["adap_emu_ppl"] == nil)
        #expect(adapFu[1] == alignerMetrics[1].testLoss.map(exp) && adapFu[1].map { $0.isFinite && $0 > 1 } == true)
        #expect(alignerMetrics[1].schemeFigures?["adap_emu_ppl"].map { $0.isFinite && $0 > 1 } == true)
        #expect(alignerMetrics.allSatisfy { $0.candidates == 4 })
    }

    /// Runs `t` in this process with `forgers`, expecting every node to finish; returns
    /// the aligner's trust history and every member's key by name.
    static func alignerRows(_ t: Topology, forgers: (([String: PublicKey]) -> [(any UpdateForger)?])? = nil) throws
        -> (rows: [TrustRecord], keys: [String: String])
    {
        let keys = Dictionary(uniqueKeysWithValues: zip(t.nodes.map(\.name), try NodeRuntime.memberKeys(t)))
        let cluster = try InProcessCluster(t, forgers: forgers?(keys))
        cluster.start(stop: StopRequest())
        #expect(cluster.wait(seconds: 120))
        #expect(cluster.failures() == [])
        let last = t.nodes[0].settings.rounds
        for o in cluster.results { #expect(try o?.get() == .finished(round: last)) }
        return (try StateDirectory(path: cluster.runtimes[0].state.path).trustHistory(), keys.mapValues(\.description))
    }

    @Test func theAlignerLeavesOutCopiesAndOversizedClientsBeforeItAverages() throws {
        let t = try Self.topology()
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        // carol republishes alice's update of each round; dave sends 20 times his adapter in
        // round 1, then the aligner's aggregate of round 1 as his own (a free-rider).
        let (rows, keys) = try Self.alignerRows(t) { keys in
            [nil, nil, nil, PoisonForger(kind: .mimic, seed: 1, target: keys["alice"]), ScaledThenFreeRiding(aligner: keys["aligner"]!)]
        }
        #expect(rows.map(\.round) == [1, 2])
        for row in rows {
            // Uniform over the two honest clients, nothing on the aligner's own adapter.
            #expect(row.strategy.strategy == .fedavg && row.selfID == keys["aligner"])
            #expect(Set(row.candidates.dropFirst()) == [keys["alice"]!, keys["bob"]!])
            #expect(row.weights == [0, 0.5, 0.5])
            let byCandidate = Dictionary(uniqueKeysWithValues: row.exclusions.map { ($0.candidate, $0) })
            #expect(byCandidate.count == 2, "\(row.exclusions)")
            let carol = try #require(byCandidate[keys["carol"]!])
            #expect(carol.reason == .duplicate && carol.detail.hasPrefix("copy of \(keys["alice"]!) "), "\(carol.detail)")
            let dave = try #require(byCandidate[keys["dave"]!])
            if row.round == 1 {
                #expect(dave.reason == .normBound, "\(dave)")
            } else {
                #expect(dave.reason == .duplicate && dave.detail.hasPrefix("copy of the node's own adapter "), "\(dave.detail)")
            }
        }
    }

    @Test func theAlignerCarriesItsTrustRowOverUnderTrustEvery() throws {
        let t = try Self.topology(trust: "validation", rounds: 3, extra: "trust_every = 2")
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let (rows, keys) = try Self.alignerRows(t)
        #expect(rows.map(\.round) == [1, 2, 3])
        // Scored in round 1, carried over in round 2 (same candidates, same weights), scored in round 3.
        #expect(rows.map(\.scoredRound) == [nil, 1, nil])
        #expect(rows[1].candidates == rows[0].candidates && rows[1].weights == rows[0].weights)
        #expect(Set(rows[0].candidates) == Set(keys.values) && rows.allSatisfy { $0.exclusions.isEmpty })
        #expect(rows[0].scores.dropFirst().allSatisfy { $0 != nil } && rows[2].scores.dropFirst().allSatisfy { $0 != nil })
    }
}

/// Publishes its honest adapter scaled 20 times in round 1, and from round 2 on the
/// aligner's latest aggregate, unchanged, as its own update.
final class ScaledThenFreeRiding: UpdateForger {
    let aligner: PublicKey
    init(aligner: PublicKey) { self.aligner = aligner }

    func forge(_ c: ForgeContext) throws -> [UInt8]? {
        if c.round == 1 { return try c.encode(PoisonForger.scaled(c.honest, by: 20)) }
        guard let aggregate = c.mesh.latestUpdates()[aligner] else { throw NodeError("no aggregate of the aligner held in round \(c.round)") }
        return aggregate.payload.bytes
    }
}
