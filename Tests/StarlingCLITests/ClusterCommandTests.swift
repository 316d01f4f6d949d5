import Foundation
import Gossip
import Testing

/// A fresh folder for one test's topology, state and text.
func clusterFolder() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-cluster-\(UUID())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Free TCP ports on 127.0.0.1 (each was bindable a moment ago).
func freePorts(_ count: Int) throws -> [Int] {
    let context = try ZMQContext()
    let sockets = try (0..<count).map { _ in try ZMQSocket(context, type: .router) }
    defer { sockets.forEach { $0.close() } }
    return try sockets.map { s in
        try s.bind("tcp://127.0.0.1:*")
        return Int(try s.lastEndpoint.split(separator: ":").last!)!
    }
}

/// A topology of `names` on free 127.0.0.1 ports, full mesh, CURVE on.
func clusterTopology(name: String, names: [String], sources: [String], settings: String) throws -> String {
    let ports = try freePorts(names.count)
    var text = """
        name = "\(name)"
        sources = [\(sources.map { "\"\($0)\"" }.joined(separator: ", "))]
        [defaults]
        \(settings)
        [edges]
        shape = "full"

        """
    for (n, p) in zip(names, ports) {
        text += "\n[[nodes]]\nname = \"\(n)\"\nendpoint = \"tcp://127.0.0.1:\(p)\"\n"
    }
    return text
}

@Suite(.serialized) struct ClusterCommandTests {
    @Test func fourProcessesInTwoGroupsTrustTheirOwnGroup() throws {
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/two.toml"
        try clusterTopology(
            name: "two", names: ["p1", "p2", "a1", "a2"], sources: ["prose", "arithmetic"],
            settings: """
                trust = "validation"
                rounds = 4
                warmup_rounds = 1
                local_steps = 8
                sequence_length = 32
                round_timeout_ms = 20000
                heartbeat_ms = 200
                """
        ).write(toFile: file, atomically: true, encoding: .utf8)

        let up = try runStarling(["up", file, "--plain", "--bytes", "12000"], timeoutSeconds: 300)
        #expect(up.status == 0, "\(up.err)")
        #expect(up.out.contains("Trust graph"))
        #expect(up.out.contains("Perplexity on each node's own test text"))

        let trust = try runStarling(["trust", "--topology", file, "--format", "json"])
        #expect(trust.status == 0, "\(trust.err)")
        struct Graph: Decodable { var nodes: [String]; var weights: [[Double]]; var rounds: [Int?] }
        let graph = try JSONDecoder().decode(Graph.self, from: Data(trust.out.utf8))
        #expect(graph.nodes == ["p1", "p2", "a1", "a2"])
        #expect(graph.rounds == [4, 4, 4, 4])
        var inGroup = 0.0, outOfGroup = 0.0
        for i in 0..<4 {
            for j in 0..<4 { if (i < 2) == (j < 2) { inGroup += graph.weights[i][j] } else { outOfGroup += graph.weights[i][j] } }
        }
        #expect(inGroup > outOfGroup, "in-group \(inGroup / 4) vs out-of-group \(outOfGroup / 4)")

        let status = try runStarling(["status", "--topology", file])
        #expect(status.status == 0)
        #expect(status.out.split(separator: "\n").filter { $0.contains("finished") && $0.contains("4/4") }.count == 4)
    }

    @Test func aNodeKilledAtRandomMomentsResumesFromItsLastRound() throws {
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/crash.toml"
        let rounds = 12
        try clusterTopology(
            name: "crash", names: ["steady", "victim"], sources: ["code", "lingua"],
            settings: """
                trust = "validation"
                rounds = \(rounds)
                warmup_rounds = 1
                local_steps = 6
                sequence_length = 32
                round_timeout_ms = 1500
                heartbeat_ms = 100
                liveness = 3
                """
        ).write(toFile: file, atomically: true, encoding: .utf8)
        // Prepare keys and text, then start the two nodes as separate processes.
        let prepared = try runStarling(["data", "synth", "--topology", file, "--bytes", "8000"])
        #expect(prepared.status == 0, "\(prepared.err)")
        for n in ["steady", "victim"] {
            let keys = try runStarling(["keygen", "--out", "\(dir)/state/crash/\(n)"])
            #expect(keys.status == 0)
        }
        let state = "\(dir)/state/crash/victim"
        func start(_ name: String) throws -> Process {
            let p = Process()
            p.executableURL = starlingExecutable()
            p.arguments = ["node", "--topology", file, "--name", name]
            let path = "\(dir)/\(name).log"
            if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            log.seekToEndOfFile()
            p.standardOutput = log
            p.standardError = log
            try p.run()
            return p
        }
        let steady = try start("steady")
        var victim = try start("victim")
        defer {
            for p in [steady, victim] where p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
            }
        }

        var generator = SystemRandomNumberGenerator()
        var kills = 0
        var lastCommitted = 0
        let deadline = Date().addingTimeInterval(240)
        while kills < 4 && victim.isRunning && Date() < deadline {
            // Kill at a random moment after the victim has committed a new round, so each
            // restart has progress to resume from, however slow the machine.
            while try victim.isRunning && Date() < deadline && committedRound(state) <= lastCommitted { usleep(20_000) }
            usleep(UInt32.random(in: 0...800_000, using: &generator))
            guard victim.isRunning else { break }
            kill(victim.processIdentifier, SIGKILL)
            victim.waitUntilExit()
            kills += 1
            // Every state file parses, and the histories agree with the committed round.
            let committed = try committedRound(state)
            #expect(committed > lastCommitted)
            lastCommitted = committed
            let metrics = try lines(state + "/metrics.jsonl")
            #expect(metrics.filter { $0.contains("\"round\":\(committed),") }.count == 1)
            for line in metrics { _ = try JSONSerialization.jsonObject(with: Data(line.utf8)) }
            for line in try lines(state + "/trust.jsonl") { _ = try JSONSerialization.jsonObject(with: Data(line.utf8)) }
            let checkpoint = String(format: "%@/checkpoints/round-%06d", state, committed)
            #expect(FileManager.default.fileExists(atPath: checkpoint + "/adapter_model.safetensors"))
            #expect(FileManager.default.fileExists(atPath: checkpoint + "/optimizer.safetensors"))
            victim = try start("victim")
        }
        #expect(kills >= 2, "the victim finished before it could be killed twice")
        for p in [steady, victim] {
            while p.isRunning && Date() < deadline { usleep(100_000) }
            #expect(!p.isRunning, "a node did not finish in time")
            p.waitUntilExit()
            // A node that failed says why in its log, which goes with the folder: the
            // message, read only on failure, carries its end.
            let name = p === steady ? "steady" : "victim"
            func logEnd() -> String {
                ((try? String(contentsOfFile: "\(dir)/\(name).log", encoding: .utf8)) ?? "")
                    .split(separator: "\n").suffix(12).joined(separator: "\n")
            }
            #expect(p.terminationStatus == 0, "\(name) exited with \(p.terminationStatus); its log ends:\n\(logEnd())")
        }
        // The victim's rounds are complete and each appears once, across all its restarts.
        let completed = try lines(state + "/metrics.jsonl").map { line -> Int in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return object["round"] as! Int
        }
        #expect(completed == Array(1...rounds))
        // Each restart said where it resumed: right after the round committed before its kill.
        let log = try String(contentsOfFile: "\(dir)/victim.log", encoding: .utf8)
        let resumed = log.split(separator: "\n").filter { $0.contains("resumed") }
        #expect(resumed.count == kills, "\(resumed)")
    }

    func lines(_ path: String) throws -> [String] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func committedRound(_ state: String) throws -> Int {
        guard let data = FileManager.default.contents(atPath: state + "/state.json") else { return 0 }
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return object["round"] as! Int
    }
}
