import Foundation
import Testing

@Suite(.serialized) struct ServedModelCommandTests {
    /// After a run of `fdlora` with factor fusion, `eval --node` measures the node's own
    /// test perplexity as its metrics record it, and `eval` and `generate` with `--node`
    /// serve the fused adapter: the same loss and the same greedy text as the base with
    /// the checkpoint's `fused` folder as a plain PEFT adapter.
    @Test func evalAndGenerateOfAnFDLoRANodeServeTheFusedModel() throws {
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/fd.toml"
        try clusterTopology(
            name: "fd", names: ["f1", "f2", "f3"], sources: ["prose", "arithmetic"],
            settings: """
                scheme = "fdlora"
                aggregation = "fedavg"
                trust = "validation"
                fusion = "factor"
                fusion_budget = 12
                base_model = "random:tiny"
                seed = 1
                rounds = 3
                warmup_rounds = 1
                local_steps = 6
                sequence_length = 32
                round_timeout_ms = 20000
                heartbeat_ms = 200
                """
        ).write(toFile: file, atomically: true, encoding: .utf8)
        let up = try runStarling(["up", file, "--plain", "--bytes", "8000"], timeoutSeconds: 300)
        #expect(up.status == 0, "\(up.err)")

        let state = dir + "/state/fd/f1"
        let lastMetrics = try #require(try String(contentsOfFile: state + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").last)
        let metrics = try JSONSerialization.jsonObject(with: Data(lastMetrics.utf8)) as! [String: Any]
        let weights = try #require(metrics["fusionWeights"] as? [Double])
        let checkpoint = state + "/checkpoints/round-000003"

        func evaluate(_ arguments: [String]) throws -> (loss: Double, perplexity: Double) {
            let r = try runStarling(["eval"] + arguments)
            #expect(r.status == 0, "\(r.err)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
            return (json["loss"] as! Double, json["perplexity"] as! Double)
        }
        // The node's own test batches: the figure of its metrics (and status).
        let own = try evaluate(["--topology", file, "--node", "f1"])
        #expect(abs(own.loss - (metrics["testLoss"] as! Double)) < 1e-5)

        // Any text: the fused adapter, whatever (w1, w2) the search chose.
        let text = dir + "/data/fd/f2.txt"
        let served = try evaluate(["--topology", file, "--node", "f1", "--text", text, "--seq", "32", "--split", "all"])
        let fused = try evaluate(["--base", "random:tiny", "--adapter", checkpoint + "/fused", "--text", text, "--seq", "32", "--split", "all"])
        #expect(abs(served.loss - fused.loss) < 1e-5, "served \(served.loss), fused adapter \(fused.loss), weights \(weights)")
        if weights != [1, 0] {
            let global = try evaluate(["--base", "random:tiny", "--adapter", checkpoint + "/global", "--text", text, "--seq", "32", "--split", "all"])
            #expect(abs(served.loss - global.loss) > 1e-5, "the served model is not the global slot alone")
        }

        let prompt = ["--prompt", "The ", "--tokens", "24", "--temperature", "0"]
        let g1 = try runStarling(["generate", "--topology", file, "--node", "f1"] + prompt)
        let g2 = try runStarling(["generate", "--base", "random:tiny", "--adapter", checkpoint + "/fused"] + prompt)
        #expect(g1.status == 0, "\(g1.err)")
        #expect(g1.out == g2.out)
        #expect(g1.out.hasPrefix("The "))
    }

    @Test func nodeOptionsAreCheckedTogether() throws {
        let cases: [([String], String)] = [
            (["eval", "--text", "x.txt"], "--base or --node is required"),
            (["eval", "--node", "f1", "--text", "x.txt"], "--node needs --topology"),
            (["eval", "--node", "f1", "--topology", "t.toml", "--base", "random:tiny"], "not with --base or --adapter"),
            (["eval", "--base", "random:tiny"], "--text is required without --node"),
            (["eval", "--base", "random:tiny", "--topology", "t.toml", "--text", "x.txt"], "--topology and --state go with --node"),
            (["finetune", "--node", "f1", "--topology", "t.toml", "--text", "x.txt", "--out", "/tmp/never"], "finetune trains from --base"),
        ]
        for (arguments, message) in cases {
            let r = try runStarling(arguments)
            #expect(r.status != 0)
            #expect(r.err.contains(message), "\(arguments): \(r.err)")
        }
    }
}
