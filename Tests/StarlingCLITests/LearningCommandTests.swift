import Foundation
import Testing

@Suite struct LearningCommandTests {
    /// pretrain on sums → eval → finetune on products → eval with the adapter → generate.
    @Test func pretrainFinetuneEvalGenerate() throws {
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
            "pretrain", "--text", dir + "/sums.txt", "--out", dir + "/base", "--steps", "60", "--batch", "4", "--seq", "32",
            "--width", "32", "--context", "32", "--checkpoint-every", "30", "--threads", "1",
        ])
        #expect(pretrain.status == 0, "\(pretrain.err)")
        #expect(pretrain.err.contains("step 30: test loss"))
        #expect(FileManager.default.fileExists(atPath: dir + "/base/model.safetensors"))
        #expect(FileManager.default.fileExists(atPath: dir + "/base/config.json"))

        func evaluate(_ extra: [String]) throws -> Double {
            let r = try runStarling(["eval", "--base", dir + "/base", "--text", dir + "/products.txt", "--seq", "32"] + extra)
            #expect(r.status == 0, "\(r.err)")
            let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
            let loss = json["loss"] as! Double
            #expect(abs(json["perplexity"] as! Double - exp(loss)) < 1e-3 * exp(loss))
            return loss
        }
        let baseLoss = try evaluate([])
        // Even on products, a byte model trained on sums beats the uniform ln 256 ≈ 5.55.
        #expect(baseLoss < 4.5)

        let finetune = try runStarling([
            "finetune", "--base", dir + "/base", "--text", dir + "/products.txt", "--out", dir + "/adapter", "--steps", "60",
            "--batch", "4", "--seq", "32", "--rank", "2", "--lr", "0.003", "--checkpoint-every", "0", "--threads", "1",
        ])
        #expect(finetune.status == 0, "\(finetune.err)")
        #expect(FileManager.default.fileExists(atPath: dir + "/adapter/adapter_model.safetensors"))
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter/adapter_config.json"))) as! [String: Any]
        #expect(config["r"] as? Int == 2 && config["peft_type"] as? String == "LORA")
        let adaptedLoss = try evaluate(["--adapter", dir + "/adapter"])
        // Text the base never saw: the adapter must have learned some of it (0.22 nats seen).
        #expect(adaptedLoss < baseLoss - 0.1, "adapter \(adaptedLoss) vs base \(baseLoss)")

        let generate = try runStarling([
            "generate", "--base", dir + "/base", "--adapter", dir + "/adapter", "--prompt", "12 + ", "--tokens", "20",
            "--temperature", "0",
        ])
        #expect(generate.status == 0, "\(generate.err)")
        #expect(generate.out.hasPrefix("12 + "))
        #expect(generate.out.count > "12 + ".count + 10)
        let again = try runStarling([
            "generate", "--base", dir + "/base", "--adapter", dir + "/adapter", "--prompt", "12 + ", "--tokens", "20",
            "--temperature", "0",
        ])
        #expect(again.out == generate.out)
    }

    @Test func badInputIsAClearError() throws {
        let missing = try runStarling(["eval", "--base", "/nonexistent/base", "--text", "/nonexistent.txt"])
        #expect(missing.status != 0)
        #expect(missing.err.contains("/nonexistent/base"))
    }
}
