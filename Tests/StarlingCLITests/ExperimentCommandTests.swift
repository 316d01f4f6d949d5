import Foundation
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

@Suite struct ExperimentCommandTests {
    @Test func aTinyExperimentWritesTheTableTheCSVAndAHeatmapPerStrategy() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-experiment-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try writeThreeNodeExperimentTopology(in: dir)
        let out = dir + "/results"
        let r = try runStarling(
            ["experiment", "--topology", file, "--out", out, "--strategy", "local", "--strategy", "validation:temperature=0.1",
             "--settings", "specific", "--seeds", "1", "--rounds", "2", "--warmup-rounds", "1", "--local-steps", "2",
             "--batch", "2", "--bytes", "3000", "--evaluation-bytes", "700", "--base-model", "random:tiny"], timeoutSeconds: 120)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("[1/2] specific seed 1 3000 B local: mean test ppl "))
        #expect(r.err.contains("[2/2] specific seed 1 3000 B validation:temperature=0.1: mean test ppl "))

        let csv = try String(contentsOfFile: out + "/results.csv", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(csv.first == "setting,seed,strategy,bytes_per_node,node,test_perplexity")
        #expect(csv.count == 1 + 2 * 3)
        for line in csv.dropFirst() {
            let cells = line.split(separator: ",").map(String.init)
            #expect(cells.count == 6 && cells[0] == "specific" && cells[1] == "1" && cells[3] == "3000")
            let ppl = try #require(Double(cells[5]))
            #expect(ppl > 1 && ppl < 256, "\(line)")
        }
        #expect(Set(csv.dropFirst().map { $0.split(separator: ",")[4] }) == ["ann", "ben", "cat"])

        let md = try String(contentsOfFile: out + "/results.md", encoding: .utf8)
        #expect(md.contains("| strategy | specific: test ppl | vs local | vs fedavg | trust self / group / others |"))
        #expect(md.contains("| `local` | "))
        #expect(md.contains("| `validation:temperature=0.1` | "))
        #expect(md.contains("specific: ann [1, 0]; ben [1, 0]; cat [0, 1]"))
        #expect(r.out.contains("| `local` | "))
        // local keeps all its weight: on itself, none on its group peer or the other node.
        #expect(md.contains(" | 1.00 / 0.00 / 0.00 |"))

        for name in ["trust-local.svg", "trust-validation_temperature=0.1.svg"] {
            let svg = try Data(contentsOf: URL(fileURLWithPath: out + "/" + name))
            let parser = XMLParser(data: svg)
            #expect(parser.parse(), "\(name): \(String(describing: parser.parserError))")
            let text = String(decoding: svg, as: UTF8.self)
            for node in ["ann", "ben", "cat"] { #expect(text.contains(">\(node)</text>")) }
        }
        // local trusts itself alone: its heatmap's diagonal cells read 1.00.
        #expect(try String(contentsOfFile: out + "/trust-local.svg", encoding: .utf8).components(separatedBy: ">1.00</text>").count - 1 == 3)
    }

    @Test func anUnknownStrategyOrSettingIsRefused() throws {
        let bad = try runStarling(["experiment", "--strategy", "gut-feeling", "--seeds", "1", "--out", "/nonexistent/x"])
        #expect(bad.status != 0)
        #expect(bad.err.contains("unknown trust strategy 'gut-feeling'"), "\(bad.err)")
        let setting = try runStarling(["experiment", "--settings", "specific,odd"])
        #expect(setting.status != 0)
        #expect(setting.err.contains("unknown setting \"odd\""), "\(setting.err)")
    }
}

/// Writes `three.toml` into `dir`: three nodes, two on prose and one on code, fully
/// linked; returns its path.
func writeThreeNodeExperimentTopology(in dir: String) throws -> String {
    let file = dir + "/three.toml"
    try """
        name = "three"
        sources = ["prose", "code"]
        [defaults]
        sequence_length = 16
        round_timeout_ms = 20000
        [[nodes]]
        name = "ann"
        endpoint = "tcp://127.0.0.1:7001"
        mixture = [1, 0]
        [[nodes]]
        name = "ben"
        endpoint = "tcp://127.0.0.1:7002"
        mixture = [1, 0]
        [[nodes]]
        name = "cat"
        endpoint = "tcp://127.0.0.1:7003"
        mixture = [0, 1]
        [edges]
        shape = "full"
        """.write(toFile: file, atomically: true, encoding: .utf8)
    return file
}
