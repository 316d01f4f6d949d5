import Foundation
import Testing

@Suite struct TopologyCommandTests {
    @Test func checkListsEveryProblemWithItsLineAndFails() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-check-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/bad.toml"
        let text = """
            name = "bad"
            [defaults]
            rounds = 0
            trust = "gut-feeling"
            [[nodes]]
            name = "a"
            endpoint = "tcp://127.0.0.1:7001"
            [[nodes]]
            name = "b"
            endpoint = "tcp://127.0.0.1:7001"
            [[nodes]]
            name = "c"
            endpoint = "tcp://127.0.0.1:7003"
            public_key = "123"
            [edges]
            pairs = [["a", "b"], ["a", "nobody"]]
            """
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try runStarling(["topology", "check", file])
        #expect(r.status == 1)
        let lines = r.err.split(separator: "\n").map(String.init)
        #expect(lines.contains("\(file):3: defaults.rounds must be at least 1, got 0"))
        #expect(lines.contains { $0.hasPrefix("\(file):4: defaults.trust: unknown trust strategy \"gut-feeling\"") })
        #expect(lines.contains("\(file):10: node b: duplicate endpoint tcp://127.0.0.1:7001 (also used by a)"))
        #expect(lines.contains { $0.hasPrefix("\(file):14: node c: public_key must be 64 hexadecimal digits") })
        #expect(lines.contains("\(file):16: edge [a, nobody] names unknown node \"nobody\""))
        #expect(lines.contains("\(file):11: node c is unreachable from a: no path of edges joins them"))
        #expect(lines.last == "6 problems in \(file)")
    }

    @Test func initThenCheckSucceeds() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-init-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/ring.toml"
        let made = try runStarling(["topology", "init", "--shape", "ring", "--nodes", "4", "--out", file])
        #expect(made.status == 0, "\(made.err)")
        let checked = try runStarling(["topology", "check", file])
        #expect(checked.status == 0, "\(checked.err)")
        #expect(checked.out.contains("ok: 4 nodes, 4 edges (ring)"))
        let again = try runStarling(["topology", "init", "--shape", "ring", "--nodes", "4", "--out", file])
        #expect(again.status != 0 && again.err.contains("already exists"))
        let synth = try runStarling(["data", "synth", "--topology", file, "--bytes", "1000"])
        #expect(synth.status == 0, "\(synth.err)")
        #expect(FileManager.default.fileExists(atPath: dir + "/data/ring/alice.txt"))
        #expect(try String(contentsOfFile: dir + "/data/ring/mixture.csv", encoding: .utf8).hasPrefix("node,prose,arithmetic\nalice,1.0,0.0\n"))
    }
}

@Suite struct ShippedTopologyTests {
    /// The repository's topologies/ folder, found from this file's location.
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("topologies").path

    @Test(arguments: ["demo.toml", "ring-8.toml", "full-4.toml", "clusters-9.toml"])
    func shippedTopologyPassesCheck(_ name: String) throws {
        let r = try runStarling(["topology", "check", Self.folder + "/" + name])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains(": ok: "))
    }
}
