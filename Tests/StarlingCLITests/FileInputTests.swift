import Foundation
import Testing

/// A missing or garbled file a user points a command at ends in one line naming the file
/// and what is wrong with it, with exit status 1, never a crash.
@Suite struct FileInputTests {
    /// Runs `arguments` and expects status 1 with every one of `phrases` on standard error.
    func expectRefusal(_ arguments: [String], _ phrases: [String]) throws {
        let r = try runStarling(arguments)
        #expect(r.status == 1, "\(r.err)")
        for phrase in phrases { #expect(r.err.contains(phrase), "\(r.err)") }
    }

    @Test func baseModelFolders() throws {
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "x".write(toFile: dir + "/text.txt", atomically: true, encoding: .utf8)
        try expectRefusal(["eval", "--base", dir + "/missing", "--text", dir + "/text.txt"],
                          ["base model: \(dir)/missing", "\(dir)/missing/config.json: open failed: No such file or directory"])
        try FileManager.default.createDirectory(atPath: dir + "/garbled", withIntermediateDirectories: true)
        try "not json".write(toFile: dir + "/garbled/config.json", atomically: true, encoding: .utf8)
        try expectRefusal(["eval", "--base", dir + "/garbled", "--text", dir + "/text.txt"],
                          ["\(dir)/garbled/config.json: not a GPT-2 config"])
        try expectRefusal(["eval", "--base", "random:huge", "--text", dir + "/text.txt"],
                          ["base model: unknown random shape \"huge\" (known: tiny, gpt2, llama-tiny, smollm-135m)"])
    }

    @Test func truncatedWeights() throws {
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pretrain = try runStarling([
            "pretrain", "--text", "/dev/null", "--out", dir + "/base", "--steps", "1", "--width", "8", "--heads", "1",
            "--layers", "1", "--context", "8", "--seq", "8", "--threads", "1",
        ])
        // /dev/null holds no text: the run stops before writing anything.
        #expect(pretrain.status == 1 && pretrain.err.contains("/dev/null"), "\(pretrain.err)")
        try FileManager.default.createDirectory(atPath: dir + "/base", withIntermediateDirectories: true)
        try #"{"model_type":"gpt2","n_layer":1,"n_head":1,"n_embd":8,"n_positions":8,"vocab_size":256}"#
            .write(toFile: dir + "/base/config.json", atomically: true, encoding: .utf8)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/base/model.safetensors"))
        try expectRefusal(["generate", "--base", dir + "/base", "--prompt", "x"],
                          ["\(dir)/base/model.safetensors: safetensors: file has 3 bytes, fewer than the 8-byte header length"])
    }

    @Test func tokenizerFolders() throws {
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try expectRefusal(["generate", "--base", "random:tiny", "--tokenizer", dir, "--prompt", "x"],
                          ["tokenizer: \(dir)", "\(dir)/vocab.json: open failed: No such file or directory"])
        try "{".write(toFile: dir + "/vocab.json", atomically: true, encoding: .utf8)
        try "".write(toFile: dir + "/merges.txt", atomically: true, encoding: .utf8)
        try expectRefusal(["generate", "--base", "random:tiny", "--tokenizer", dir, "--prompt", "x"],
                          ["\(dir)/vocab.json: not a GPT-2 tokenizer file"])
    }

    @Test func textAndAdapters() throws {
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "".write(toFile: dir + "/empty.txt", atomically: true, encoding: .utf8)
        try expectRefusal(["eval", "--base", "random:tiny", "--text", dir + "/empty.txt"], ["\(dir)/empty.txt: no text"])
        try expectRefusal(["eval", "--base", "random:tiny", "--text", dir + "/missing.txt"],
                          ["\(dir)/missing.txt: open failed: No such file or directory"])
        try FileManager.default.createDirectory(atPath: dir + "/adapter", withIntermediateDirectories: true)
        try #"{"peft_type":"LORA","lora_alpha":8,"lora_dropout":0,"target_modules":["attn.c_attn"]}"#
            .write(toFile: dir + "/adapter/adapter_config.json", atomically: true, encoding: .utf8)
        try expectRefusal(["generate", "--base", "random:tiny", "--adapter", dir + "/adapter", "--prompt", "x"],
                          ["\(dir)/adapter/adapter_config.json: not a usable LoRA adapter config: missing key r"])
    }

    @Test func keyFiles() throws {
        let dir = try clusterFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            name = "k"
            [[nodes]]
            name = "a"
            endpoint = "tcp://127.0.0.1:7391"
            """.write(toFile: dir + "/k.toml", atomically: true, encoding: .utf8)
        let state = dir + "/state/k/a"
        try expectRefusal(["node", "--topology", dir + "/k.toml", "--name", "a"],
                          ["node a: key file \(state)/node.key", "create it with `starling keygen --out \(state)`"])
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: state + "/node.key", contents: Data("garbage".utf8), attributes: [.posixPermissions: 0o600]))
        try expectRefusal(["node", "--topology", dir + "/k.toml", "--name", "a"],
                          ["node a: key file \(state)/node.key is not a Starling key"])
        try expectRefusal(["trust", "--topology", dir + "/k.toml"], ["node a has no public_key in the topology and no readable \(state)/node.pub"])
    }
}
