import Foundation
import Testing

/// The commands on a Llama base: `pretrain --family llama` writes a LlamaForCausalLM
/// folder that `finetune`, `eval`, `generate` and a cluster run by `up` take.
@Suite(.serialized) struct LlamaCommandTests {
    @Test func pretrainFinetuneEvalGenerateOnALlamaBase() throws {
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var sums = "", products = ""
        for i in 0..<1500 {
            sums += "\(i % 97) + \(i % 13) = \(i % 97 + i % 13);\n"
            products += "\(i % 31) * \(i % 7) = \((i % 31) * (i % 7));\n"
        }
        try sums.write(toFile: dir + "/sums.txt", atomically: true, encoding: .utf8)
        try products.write(toFile: dir + "/products.txt", atomically: true, encoding: .utf8)

        let pretrain = try runStarling([
            "pretrain", "--family", "llama", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--width", "32",
            "--text", dir + "/sums.txt", "--out", dir + "/base", "--steps", "60", "--batch", "4", "--seq", "32",
            "--context", "32", "--checkpoint-every", "0", "--threads", "1",
        ])
        #expect(pretrain.status == 0, "\(pretrain.err)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/base/config.json"))) as! [String: Any]
        #expect(config["model_type"] as? String == "llama")
        #expect(config["architectures"] as? [String] == ["LlamaForCausalLM"])
        #expect(config["num_key_value_heads"] as? Int == 2 && config["num_attention_heads"] as? Int == 4)
        // 8/3 · 32 rounded up to a multiple of 16.
        #expect(config["intermediate_size"] as? Int == 96)

        func evaluate(_ extra: [String]) throws -> Double {
            let r = try runStarling(["eval", "--base", dir + "/base", "--text", dir + "/products.txt", "--seq", "32"] + extra)
            #expect(r.status == 0, "\(r.err)")
            let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
            return json["loss"] as! Double
        }
        let baseLoss = try evaluate([])
        #expect(baseLoss < 4.5, "a byte model trained on sums beats the uniform ln 256 on products")

        let finetune = try runStarling([
            "finetune", "--base", dir + "/base", "--text", dir + "/products.txt", "--out", dir + "/adapter", "--steps", "60",
            "--batch", "4", "--seq", "32", "--rank", "2", "--lr", "0.003", "--checkpoint-every", "0", "--threads", "1",
        ])
        #expect(finetune.status == 0, "\(finetune.err)")
        let adapter = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter/adapter_config.json"))) as! [String: Any]
        // The default targets on a Llama base: all seven projections, stored [out, in].
        #expect(adapter["target_modules"] as? [String] == ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                                           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"])
        #expect(adapter["fan_in_fan_out"] as? Bool == false)
        let adaptedLoss = try evaluate(["--adapter", dir + "/adapter"])
        #expect(adaptedLoss < baseLoss - 0.1, "adapter \(adaptedLoss) vs base \(baseLoss)")

        let generate = try runStarling([
            "generate", "--base", dir + "/base", "--adapter", dir + "/adapter", "--prompt", "12 * ", "--tokens", "20", "--temperature", "0",
        ])
        #expect(generate.status == 0, "\(generate.err)")
        #expect(generate.out.hasPrefix("12 * "))
        #expect(generate.out.count > "12 * ".count + 10)
    }

    @Test func benchTrainAtTheSmolLMShape() throws {
        let run = try runStarling([
            "bench", "train", "--family", "llama", "--rank", "8", "--targets", "self_attn.q_proj,self_attn.k_proj,self_attn.v_proj,self_attn.o_proj",
            "--seq", "4", "--batch", "1", "--steps", "1", "--warmup", "0", "--threads", "1", "--gemm-size", "64",
        ], timeoutSeconds: 300)
        #expect(run.status == 0, "\(run.err)")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any])
        #expect(figures["family"] as? String == "llama")
        #expect(figures["layers"] as? Int == 30 && figures["width"] as? Int == 576 && figures["kv_heads"] as? Int == 3)
        // Rank 8 on q, k, v, o of 30 blocks: 8·((576+576) + 2·(576+192) + (576+576)) · 30, as peft counts it.
        #expect(figures["trainable_parameters"] as? Int == 921_600)
        #expect((figures["tokens_per_second"] as? Double).map { $0 > 0 } == true)

        let wrong = try runStarling(["bench", "train", "--family", "llama", "--targets", "attn.c_attn", "--steps", "1"])
        #expect(wrong.status != 0)
        #expect(wrong.err.contains("attn.c_attn is not a projection of a llama block"))
    }

    @Test func anExperimentOnALlamaBase() throws {
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try writeThreeNodeExperimentTopology(in: dir)
        let r = try runStarling(
            ["experiment", "--topology", file, "--out", dir + "/results", "--strategy", "validation", "--settings", "specific",
             "--seeds", "1", "--rounds", "2", "--warmup-rounds", "1", "--local-steps", "2", "--batch", "2", "--bytes", "3000",
             "--evaluation-bytes", "700", "--base-model", "random:llama-tiny"], timeoutSeconds: 180)
        #expect(r.status == 0, "\(r.err)")
        let csv = try String(contentsOfFile: dir + "/results/results.csv", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(csv.count == 1 + 3)
        for line in csv.dropFirst() {
            let ppl = try #require(Double(line.split(separator: ",").last.map(String.init) ?? ""))
            #expect(ppl > 1 && ppl < 256, "\(line)")
        }
    }

    /// Four nodes in two groups (prose, arithmetic) on a Llama base of the
    /// random:llama-tiny shape that `starling pretrain` trained on all their text.
    @Test func fourNodesOnAPretrainedLlamaBaseTrustTheirOwnGroup() throws {
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/llama.toml"
        try clusterTopology(
            name: "llama", names: ["p1", "p2", "a1", "a2"], sources: ["prose", "arithmetic"],
            settings: """
                base_model = "base"
                trust = "validation"
                rounds = 4
                warmup_rounds = 1
                local_steps = 8
                sequence_length = 32
                round_timeout_ms = 30000
                heartbeat_ms = 200
                """
        ).write(toFile: file, atomically: true, encoding: .utf8)
        let synth = try runStarling(["data", "synth", "--topology", file, "--bytes", "12000"])
        #expect(synth.status == 0, "\(synth.err)")
        // random:llama-tiny's shape: 3 blocks of width 48, 4 heads over 2 kv heads, MLP 128.
        let pretrain = try runStarling([
            "pretrain", "--family", "llama", "--layers", "3", "--heads", "4", "--kv-heads", "2", "--width", "48", "--mlp-width", "128",
            "--text", dir + "/data/llama", "--out", dir + "/base", "--steps", "75", "--batch", "8", "--seq", "32", "--context", "64",
            "--checkpoint-every", "0", "--threads", "1",
        ], timeoutSeconds: 300)
        #expect(pretrain.status == 0, "\(pretrain.err)")

        let up = try runStarling(["up", file, "--plain", "--in-process", "--bytes", "12000"], timeoutSeconds: 400)
        #expect(up.status == 0, "\(up.err)")
        #expect(!up.out.contains("pretraining the shared base model"), "the Llama base was there already")
        #expect(up.out.contains("Trust graph"))

        let trust = try runStarling(["trust", "--topology", file, "--format", "json"])
        #expect(trust.status == 0, "\(trust.err)")
        struct Graph: Decodable { var nodes: [String]; var weights: [[Double]]; var rounds: [Int?] }
        let graph = try JSONDecoder().decode(Graph.self, from: Data(trust.out.utf8))
        #expect(graph.rounds == [4, 4, 4, 4])
        var inGroup = 0.0, outOfGroup = 0.0
        for i in 0..<4 {
            for j in 0..<4 { if (i < 2) == (j < 2) { inGroup += graph.weights[i][j] } else { outOfGroup += graph.weights[i][j] } }
        }
        #expect(inGroup > outOfGroup, "in-group \(inGroup / 4) vs out-of-group \(outOfGroup / 4)")
    }
}
