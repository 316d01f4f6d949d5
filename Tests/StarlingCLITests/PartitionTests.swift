import Foundation
import Gossip
import Testing

/// A running `starling node` process of a cluster test, with its state folder.
struct ClusterNode {
    let name: String
    let state: String
    let process: Process

    /// One request to the node's control endpoint, as JSON; nil while it has none.
    func ask(_ request: [String: Any], context: ZMQContext) throws -> [String: Any]? {
        guard let text = try? String(contentsOfFile: state + "/control.endpoint", encoding: .utf8) else { return nil }
        let socket = try ZMQSocket(context, type: .req)
        defer { socket.close() }
        try socket.set(.receiveTimeoutMilliseconds, 2000)
        try socket.set(.sendTimeoutMilliseconds, 2000)
        try socket.connect(text.trimmingCharacters(in: .whitespacesAndNewlines))
        guard try socket.send(JSONSerialization.data(withJSONObject: request)), let reply = try socket.receiveMultipart() else { return nil }
        return try JSONSerialization.jsonObject(with: Data(reply.last?.bytes ?? [])) as? [String: Any]
    }

    /// The rounds in metrics.jsonl, in file order.
    func completedRounds() throws -> [Int] {
        try jsonLines(state + "/metrics.jsonl").compactMap { $0["round"] as? Int }
    }

    /// Each aggregation's round and candidate count (the node itself included).
    func aggregations() throws -> [(round: Int, candidates: Int)] {
        try jsonLines(state + "/trust.jsonl").compactMap { o in
            guard let r = o["round"] as? Int, let c = o["candidates"] as? [Any] else { return nil }
            return (r, c.count)
        }
    }

    private func jsonLines(_ path: String) throws -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        // The last line may be half written while we read.
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
}

@Suite(.serialized) struct PartitionTests {
    /// Four nodes in a full mesh, cut into {p1, p2} and {q1, q2} for several rounds by each
    /// node's fault-injection switch (control command `block`), then healed.
    @Test func aClusterCutInTwoKeepsTrainingAndHeals() throws {
        print("partition mechanism: fault-injection switch in the mesh's send/receive path (control command \"block\")")
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/cut.toml"
        let names = ["p1", "p2", "q1", "q2"]
        let halves = [["p1", "p2"], ["q1", "q2"]]
        try clusterTopology(
            name: "cut", names: names, sources: ["prose", "arithmetic"],
            settings: """
                trust = "fedavg"
                rounds = 400
                warmup_rounds = 1
                local_steps = 2
                batch_size = 2
                sequence_length = 16
                round_timeout_ms = 5000
                staleness_rounds = 1
                heartbeat_ms = 200
                liveness = 3
                """
        ).write(toFile: file, atomically: true, encoding: .utf8)
        let prepared = try runStarling(["data", "synth", "--topology", file, "--bytes", "4000"])
        #expect(prepared.status == 0, "\(prepared.err)")
        var nodes: [ClusterNode] = []
        defer {
            for n in nodes where n.process.isRunning {
                kill(n.process.processIdentifier, SIGKILL)
                n.process.waitUntilExit()
            }
        }
        for n in names { #expect(try runStarling(["keygen", "--out", "\(dir)/state/cut/\(n)"]).status == 0) }
        for n in names {
            let state = "\(dir)/state/cut/\(n)"
            let p = Process()
            p.executableURL = starlingExecutable()
            p.arguments = ["node", "--topology", file, "--name", n, "--log-level", "warning"]
            let log = "\(dir)/\(n).log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            p.standardOutput = handle
            p.standardError = handle
            try p.run()
            nodes.append(ClusterNode(name: n, state: state, process: p))
        }
        let context = try ZMQContext()
        let deadline = Date().addingTimeInterval(90)
        func waitUntil(_ what: String, _ condition: () throws -> Bool) throws -> Bool {
            while Date() < deadline {
                if try condition() { return true }
                usleep(50_000)
            }
            var report = "timed out waiting until \(what)"
            for n in nodes {
                let log = (try? String(contentsOfFile: "\(dir)/\(n.name).log", encoding: .utf8)) ?? ""
                let rounds = (try? n.completedRounds()) ?? []
                let status = (try? n.ask(["command": "status"], context: context)).flatMap { $0 }
                report += "\n\(n.name): rounds \(rounds.suffix(3)), status \(String(describing: status?["peers"])), log: \(log.suffix(600))"
            }
            Issue.record(Comment(rawValue: report))
            return false
        }
        func lastRound(_ n: ClusterNode) throws -> Int { try n.completedRounds().last ?? 0 }
        func peerStates(_ n: ClusterNode) throws -> [String: String] {
            guard let status = try n.ask(["command": "status"], context: context), let peers = status["peers"] as? [[String: Any]] else { return [:] }
            return Dictionary(uniqueKeysWithValues: peers.compactMap { p in (p["name"] as? String).map { ($0, p["state"] as? String ?? "") } })
        }

        // Running, every node sees the three others, past the warm-up.
        guard try waitUntil("every node sees every other alive after round 2", {
            try nodes.allSatisfy { n in try lastRound(n) >= 2 && peerStates(n).values.filter { $0 == "alive" }.count == 3 }
        }) else { return }

        // Cut: each node drops the other half.
        for n in nodes {
            let other = halves.first { !$0.contains(n.name) }!
            let reply = try n.ask(["command": "block", "peers": other], context: context)
            #expect(reply?["blocked"] as? [String] == other, "\(n.name): \(String(describing: reply))")
        }
        let cutAt = try nodes.map(lastRound)
        let cutTime = Date()
        // Both halves keep completing rounds: five more each, with only their own half.
        guard try waitUntil("every node completes five rounds while cut", {
            try zip(nodes, cutAt).allSatisfy { n, r in try lastRound(n) >= r + 5 }
        }) else { return }
        let cutSeconds = Date().timeIntervalSince(cutTime)
        for n in nodes {
            let states = try peerStates(n)
            let mine = halves.first { $0.contains(n.name) }!
            for peer in names where peer != n.name {
                #expect(states[peer] == (mine.contains(peer) ? "alive" : "gone"), "\(n.name) sees \(peer) \(states[peer] ?? "-") while cut")
            }
            // Once the other half's last updates are stale (staleness 1, and the halves may
            // be a round apart), an aggregation has the node and its own half only.
            let cutRounds = try n.aggregations().filter { $0.round >= cutAt.max()! + 3 }
            #expect(!cutRounds.isEmpty && cutRounds.allSatisfy { $0.candidates <= 2 }, "\(n.name) aggregations while cut: \(cutRounds)")
        }

        // Heal; within 3 liveness windows (1.8 s: heartbeats every 200 ms, gone after 3,
        // so a loaded machine's scheduling delays fit) every node sees every neighbour alive.
        let healTime = Date()
        for n in nodes {
            let reply = try n.ask(["command": "block", "peers": [String]()], context: context)
            #expect(reply?["blocked"] as? [String] == [], "\(n.name): \(String(describing: reply))")
        }
        guard try waitUntil("every node sees every other alive after the heal", {
            try nodes.allSatisfy { n in try peerStates(n).values.filter { $0 == "alive" }.count == 3 }
        }) else { return }
        let healSeconds = Date().timeIntervalSince(healTime)
        #expect(healSeconds < 1.8, "alive again after \(healSeconds) s")
        // The next aggregation that starts once every link is back (round r + 2: round
        // r + 1 may have begun before) has all four candidates.
        let healedAt = try nodes.map(lastRound)
        guard try waitUntil("an aggregation with all four candidates after the heal", {
            try zip(nodes, healedAt).allSatisfy { n, r in try n.aggregations().contains { $0.round >= r + 2 && $0.candidates == 4 } }
        }) else { return }
        for (n, r) in zip(nodes, healedAt) {
            let after = try n.aggregations().filter { $0.round >= r + 2 }
            #expect(after.first?.candidates == 4, "\(n.name) first aggregation after the heal: \(String(describing: after.first))")
        }

        // Stop every node, then check that no round is missing from any metrics file.
        for n in nodes {
            kill(n.process.processIdentifier, SIGTERM)
            n.process.waitUntilExit()
        }
        for n in nodes {
            let rounds = try n.completedRounds()
            #expect(!rounds.isEmpty && rounds == Array(1...rounds.count), "\(n.name) rounds \(rounds)")
        }
        print("partition: cut for \(String(format: "%.1f", cutSeconds)) s (from rounds \(cutAt), 5 more each), every neighbour alive \(String(format: "%.2f", healSeconds)) s after the heal")
    }
}
