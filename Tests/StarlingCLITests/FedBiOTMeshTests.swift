import Foundation
import Gossip
import Learning
import Node
import Testing

/// fedbiot as five `starling node` processes over tcp with CURVE: one aligner with the
/// full model, four clients that hold only the emulator. One client is killed while an
/// emulator is reaching it and started again on its state folder; a sixth member, run
/// here, sends a CHUNK of its own.
@Suite(.serialized) struct FedBiOTMeshTests {
    static let rounds = 2
    static let clients = ["alice", "bob", "carol", "dave"]

    /// The topology: edges aligner–client, and the sixth member `mallory` (never a
    /// process) linked to alice and bob only, so the aligner waits for no update of it.
    static func topology(ports: [Int]) -> String {
        var text = """
            name = "fbmesh"
            state = "state"
            sources = ["arithmetic", "lingua"]
            [defaults]
            scheme = "fedbiot"
            base_model = "models/emulator"
            trust = "fedavg"
            warmup_rounds = 0
            local_steps = 2
            rounds = \(rounds)
            learning_rate = 0.005
            batch_size = 2
            sequence_length = 16
            round_timeout_ms = 15000
            heartbeat_ms = 250
            liveness = 8
            max_payload_bytes = 16384
            curve = true
            lora = { rank = 2, alpha = 8, dropout = 0.0 }
            fedbiot = { adapter_blocks = 1, drop_ratio = 0.34, align_steps = 1, align_lr = 0.01, emulator_every = 1, chunk_interval_ms = 15 }
            [edges]
            pairs = [["aligner", "alice"], ["aligner", "bob"], ["aligner", "carol"], ["aligner", "dave"], ["mallory", "alice"], ["mallory", "bob"]]
            [[nodes]]
            name = "aligner"
            role = "aligner"
            base_model = "models/full-aligner-only"
            endpoint = "tcp://127.0.0.1:\(ports[0])"
            data = "data/aligner.txt"
            public_data = "data/aligner.txt"
            mixture = [0.5, 0.5]

            """
        for (i, name) in (clients + ["mallory"]).enumerated() {
            text += "[[nodes]]\nname = \"\(name)\"\nendpoint = \"tcp://127.0.0.1:\(ports[i + 1])\"\ndata = \"data/\(name).txt\"\nmixture = [\(i % 2), \(1 - i % 2)]\n"
        }
        return text
    }

    /// The chunk files of `folder` by version, and each version's chunk count (read
    /// from the first file's header: bytes 17 ..< 21, little-endian).
    static func chunksOnDisk(_ folder: String) -> [UInt64: (held: Int, count: Int)] {
        var out: [UInt64: (held: Int, count: Int)] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasSuffix(".chunk") {
            guard let version = name.split(separator: ".").first.flatMap({ UInt64($0) }) else { continue }
            var entry = out[version] ?? (0, 0)
            entry.held += 1
            if entry.count == 0, let data = FileManager.default.contents(atPath: folder + "/" + name), data.count >= 21 {
                entry.count = Int(data[17]) | Int(data[18]) << 8 | Int(data[19]) << 16 | Int(data[20]) << 24
            }
            out[version] = entry
        }
        return out
    }

    @Test func fiveProcessesOverCurveSurviveAKilledClientAndRefuseAForgedChunk() throws {
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/fbmesh.toml"
        try Self.topology(ports: try freePorts(6)).write(toFile: file, atomically: true, encoding: .utf8)

        // The full base (16 small blocks, drawn at random) and the emulator cut from it:
        // 1 adapter block, 10 of the 15 middle blocks kept, several chunks each version.
        let full = TransformerModel(
            config: ModelConfig(layers: 16, heads: 2, channels: 64, maxSequenceLength: 16, vocabularySize: 256), lora: nil, seed: 5)
        try Checkpoint.save(full, to: dir + "/models/full-aligner-only")
        let cut = try runStarling([
            "emulator", "build", "--base", dir + "/models/full-aligner-only", "--drop", "0.34", "--adapter-blocks", "1",
            "--out", dir + "/models/emulator",
        ])
        #expect(cut.status == 0, "\(cut.err)")
        let prepared = try runStarling(["data", "synth", "--topology", file, "--bytes", "2000"])
        #expect(prepared.status == 0, "\(prepared.err)")
        let names = ["aligner"] + Self.clients
        for n in names + ["mallory"] { #expect(try runStarling(["keygen", "--out", "\(dir)/state/\(n)"]).status == 0) }

        var nodes: [String: ClusterNode] = [:]
        var killed: [ClusterNode] = []
        defer {
            for n in Array(nodes.values) + killed where n.process.isRunning {
                kill(n.process.processIdentifier, SIGKILL)
                n.process.waitUntilExit()
            }
        }
        func start(_ n: String) throws -> ClusterNode {
            let p = Process()
            p.executableURL = starlingExecutable()
            p.arguments = ["node", "--topology", file, "--name", n, "--log-level", "info"]
            let log = "\(dir)/\(n).log"
            if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            handle.seekToEndOfFile()
            p.standardOutput = handle
            p.standardError = handle
            try p.run()
            return ClusterNode(name: n, state: "\(dir)/state/\(n)", process: p)
        }
        for n in names { nodes[n] = try start(n) }
        let context = try ZMQContext()
        let deadline = Date().addingTimeInterval(150)
        func report(_ what: String) {
            var text = "timed out waiting until \(what)"
            for n in names {
                let log = (try? String(contentsOfFile: "\(dir)/\(n).log", encoding: .utf8)) ?? ""
                text += "\n\(n): rounds \((try? nodes[n]?.completedRounds()) ?? []), log: \(log.suffix(800))"
            }
            Issue.record(Comment(rawValue: text))
        }

        // (b) dave is killed once it holds some chunks of a version but not all of them.
        let daveChunks = "\(dir)/state/dave/emulator"
        var caught: (version: UInt64, held: Int, count: Int)?
        var seen: [UInt64: (held: Int, count: Int)] = [:]
        while caught == nil, Date() < deadline, nodes["dave"]!.process.isRunning {
            let onDisk = Self.chunksOnDisk(daveChunks)
            for (v, e) in onDisk where e.held > seen[v]?.held ?? 0 { seen[v] = e }
            if let (v, e) = onDisk.first(where: { $0.value.held > 0 && $0.value.held < $0.value.count }) {
                kill(nodes["dave"]!.process.processIdentifier, SIGKILL)
                nodes["dave"]!.process.waitUntilExit()
                caught = (v, e.held, e.count)
            } else {
                usleep(1_000)
            }
        }
        guard let caught else { return report("dave holds part of an emulator (seen \(seen))") }
        let roundsBeforeKill = try nodes["dave"]!.completedRounds()
        // What it held is still there: the chunks were kept as they came.
        let heldAtKill = Self.chunksOnDisk(daveChunks)[caught.version]?.held ?? 0
        #expect(heldAtKill >= caught.held && heldAtKill < caught.count)
        killed.append(nodes["dave"]!)
        nodes["dave"] = try start("dave")

        // (c) mallory, a member but not the aligner, sends a well-formed, signed CHUNK.
        func keys(_ n: String) throws -> SigningKeyPair { try SigningKeyPair.load(from: "\(dir)/state/\(n)/node.key") }
        let endpoints = (try String(contentsOfFile: file, encoding: .utf8)).split(separator: "\n")
            .filter { $0.hasPrefix("endpoint = ") }.map { String($0.dropFirst("endpoint = \"".count).dropLast()) }
        let members = try zip(names + ["mallory"], endpoints).map { n, e in Member(name: n, publicKey: try keys(n).publicKey, endpoint: e) }
        let malloryKeys = try keys("mallory")
        var config = MeshConfig(keys: malloryKeys, endpoint: members[5].endpoint!, members: members, neighbours: ["alice", "bob"])
        config.curve = true
        config.heartbeatMilliseconds = 250
        config.livenessIntervals = 8
        let mallory = try GossipNode(config: config)
        defer { mallory.stop() }
        #expect(mallory.waitForPeers(["alice", "bob"], state: .alive, timeoutSeconds: 30))
        let forged = try EmulatorChunk.split(Array(repeating: 0x5A, count: 100), version: 999, maxPayloadBytes: 16384, keys: malloryKeys)
        func refused(_ n: String) throws -> UInt64 {
            let status = try nodes[n]!.ask(["command": "status"], context: context)
            return ((status?["rejections"] as? [String: Any])?["notPublisher"] as? NSNumber)?.uint64Value ?? 0
        }
        var counted = (alice: UInt64(0), bob: UInt64(0))
        for _ in 0..<40 where Date() < deadline {
            try mallory.publishChunk(round: 1, payload: forged[0], replacing: true)
            usleep(250_000)
            counted = (try refused("alice"), try refused("bob"))
            if counted.alice > 0 && counted.bob > 0 { break }
        }
        #expect(counted.alice > 0 && counted.bob > 0, "notPublisher at alice \(counted.alice), bob \(counted.bob)")
        #expect(mallory.counters().chunksAccepted == 0)

        // Every process finishes its rounds.
        while Date() < deadline, nodes.values.contains(where: { $0.process.isRunning }) { usleep(100_000) }
        guard !nodes.values.contains(where: { $0.process.isRunning }) else { return report("every node finished") }
        for n in names { #expect(nodes[n]!.process.terminationStatus == 0, "\(n) exit status") }

        // (a) every client holds the aligner's last emulator, byte for byte (each was
        // verified by its digest as a whole before it was kept), and no stray chunk.
        let published = try FileSystem.readBytes("\(dir)/state/aligner/emulator.safetensors")
        for n in Self.clients {
            let kept = try FileSystem.readBytes("\(dir)/state/\(n)/emulator.safetensors")
            #expect(kept == published, "\(n)'s emulator is the aligner's")
            #expect(Self.chunksOnDisk("\(dir)/state/\(n)/emulator")[999] == nil)
            let rounds = try nodes[n]!.completedRounds()
            #expect(rounds == Array(1...Self.rounds), "\(n) rounds \(rounds)")
        }
        // dave trained again after its restart.
        #expect(roundsBeforeKill.count < Self.rounds, "dave had \(roundsBeforeKill) before the kill")
        let daveLog = try String(contentsOfFile: "\(dir)/dave.log", encoding: .utf8)
        #expect(daveLog.contains("emulator replaced"))

        // (d) no client ever named or held the full model: its topology entry is the
        // emulator folder, its log never names the full one, its state folder has no model.
        let t = try TopologyParser.load(path: file)
        let fullBytes = try FileManager.default.attributesOfItem(atPath: dir + "/models/full-aligner-only/model.safetensors")[.size] as! Int
        for n in Self.clients {
            #expect(t.nodes[try #require(t.index(of: n))].settings.baseModel == "models/emulator")
            let log = try String(contentsOfFile: "\(dir)/\(n).log", encoding: .utf8)
            #expect(!log.contains("full-aligner-only"), "\(n)'s log names the full model")
            let files = try FileManager.default.subpathsOfDirectory(atPath: "\(dir)/state/\(n)")
            #expect(!files.contains { ($0 as NSString).lastPathComponent == "model.safetensors" }, "\(n) state: \(files)")
            for f in files {
                let size = try FileManager.default.attributesOfItem(atPath: "\(dir)/state/\(n)/\(f)")[.size] as? Int ?? 0
                #expect(size < fullBytes, "\(n): \(f) of \(size) bytes")
            }
        }
        #expect(FileManager.default.fileExists(atPath: dir + "/models/emulator/" + EmulatorCheckpoint.planFileName))
        let emulatorBytes = try FileManager.default.attributesOfItem(atPath: dir + "/models/emulator/model.safetensors")[.size] as! Int
        #expect(emulatorBytes < fullBytes * 3 / 4)
        print("fedbiot mesh: dave killed holding \(caught.held) of \(caught.count) chunks of emulator \(caught.version) after rounds \(roundsBeforeKill); notPublisher at alice \(counted.alice), bob \(counted.bob)")
    }
}
