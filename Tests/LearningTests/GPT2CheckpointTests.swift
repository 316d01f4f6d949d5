import Foundation
import Testing

@testable import Learning

@Suite struct GPT2CheckpointTests {
    static let tinyConfig = ModelConfig(layers: 2, heads: 2, channels: 32, maxSequenceLength: 64, vocabularySize: 256)

    @Test func loadsTheTinyTransformersCheckpointWithNormalisedNames() throws {
        let checkpoint = try GPT2Checkpoint.load(from: Fixture.path("tiny-gpt2"))
        #expect(checkpoint.config == Self.tinyConfig)
        #expect(checkpoint.config.normEpsilon == 1e-5)
        #expect(checkpoint.parameters.count == 4 + 2 * 12)
        #expect(checkpoint.parameters["wte.weight"]?.shape == [256, 32])
        #expect(checkpoint.parameters["wpe.weight"]?.shape == [64, 32])
        #expect(checkpoint.parameters["h.1.attn.c_attn.weight"]?.shape == [32, 96])
        #expect(checkpoint.parameters["h.0.mlp.c_fc.weight"]?.shape == [32, 128])
        #expect(checkpoint.parameters["h.0.mlp.c_proj.weight"]?.shape == [128, 32])
        #expect(checkpoint.parameters["ln_f.bias"]?.shape == [32])
        #expect(checkpoint.parameters.keys.allSatisfy { !$0.hasPrefix("transformer.") })
        for (name, tensor) in checkpoint.parameters { #expect(tensor.name == name) }
    }

    @Test func valuesMatchTheRawFile() throws {
        let checkpoint = try GPT2Checkpoint.load(from: Fixture.path("tiny-gpt2"))
        let raw = try SafeTensors.read(from: Fixture.path("tiny-gpt2/model.safetensors"))
        #expect(checkpoint.parameters["h.1.ln_2.weight"]?.values == raw["transformer.h.1.ln_2.weight"]?.values)
        // The fixture's LayerNorm weights were drawn around 1, not left at 1.
        #expect(checkpoint.parameters["h.1.ln_2.weight"]!.values.contains { abs($0 - 1) > 0.01 })
    }

    @Test func namesAreNormalised() {
        #expect(GPT2Checkpoint.normalizedName("transformer.h.3.attn.c_proj.weight") == "h.3.attn.c_proj.weight")
        #expect(GPT2Checkpoint.normalizedName("wte.weight") == "wte.weight")
        #expect(GPT2Checkpoint.normalizedName("lm_head.weight") == nil)
        #expect(GPT2Checkpoint.normalizedName("h.0.attn.bias") == nil)
        #expect(GPT2Checkpoint.normalizedName("transformer.h.0.attn.masked_bias") == nil)
        #expect(GPT2Checkpoint.normalizedName("h.0.attn.c_attn.bias") == "h.0.attn.c_attn.bias")
    }

    @Test func saveThenLoadRoundTrips() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let original = try GPT2Checkpoint.load(from: Fixture.path("tiny-gpt2"))
        try original.save(to: folder.file("saved"))
        #expect(try FileSystem.contentsOfDirectory(folder.file("saved")) == ["config.json", "model.safetensors"])
        #expect(try GPT2Checkpoint.load(from: folder.file("saved")) == original)
        let raw = try SafeTensors.read(from: folder.file("saved/model.safetensors"))
        #expect(raw.tensors.first?.name == "transformer.wte.weight")
        #expect(raw.metadata == ["format": "pt"])
    }

    @Test func legacyConfigKeysAndExtraTensorsAreAccepted() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let original = try GPT2Checkpoint.load(from: Fixture.path("tiny-gpt2"))
        // The original OpenAI layout: n_ctx, no prefix, mask buffers and a tied lm_head.
        try FileSystem.writeAtomically(Array(#"{"n_layer":2,"n_head":2,"n_embd":32,"n_ctx":64,"vocab_size":256}"#.utf8), to: folder.file("config.json"))
        var tensors = original.parameters.values.sorted { $0.name < $1.name }
        tensors.append(NamedTensor(name: "h.0.attn.bias", shape: [1, 1, 2, 2], values: [1, 0, 1, 1]))
        tensors.append(NamedTensor(name: "lm_head.weight", shape: [256, 32], values: original.parameters["wte.weight"]!.values))
        try SafeTensors.write(tensors, to: folder.file("model.safetensors"))
        let loaded = try GPT2Checkpoint.load(from: folder.path)
        #expect(loaded == original)
    }

    @Test func missingUnexpectedAndMisshapenTensorsAreErrors() throws {
        let original = try GPT2Checkpoint.load(from: Fixture.path("tiny-gpt2"))
        var missing = original.parameters
        missing["h.1.ln_1.bias"] = nil
        #expect(throws: GPT2CheckpointError.missingTensor("h.1.ln_1.bias")) { try GPT2Checkpoint.validate(missing, config: original.config) }
        var extra = original.parameters
        extra["h.2.ln_1.bias"] = NamedTensor(name: "h.2.ln_1.bias", shape: [32], values: [Float](repeating: 0, count: 32))
        #expect(throws: GPT2CheckpointError.unexpectedTensor("h.2.ln_1.bias")) { try GPT2Checkpoint.validate(extra, config: original.config) }
        var misshapen = original.parameters
        misshapen["wpe.weight"] = NamedTensor(name: "wpe.weight", shape: [32, 64], values: original.parameters["wpe.weight"]!.values)
        #expect(throws: GPT2CheckpointError.wrongShape(name: "wpe.weight", expected: [64, 32], actual: [32, 64])) {
            try GPT2Checkpoint.validate(misshapen, config: original.config)
        }
    }

    @Test func badConfigsAreErrors() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.file("config.json")
        try FileSystem.writeAtomically(Array(#"{"n_layer":2,"n_head":3,"n_embd":32,"n_positions":64,"vocab_size":256}"#.utf8), to: path)
        #expect(throws: GPT2CheckpointError.inconsistentConfig("n_embd 32 is not a multiple of n_head 3")) { try GPT2Checkpoint.readConfig(path) }
        try FileSystem.writeAtomically(Array(#"{"n_layer":2,"n_embd":32,"n_positions":64,"vocab_size":256}"#.utf8), to: path)
        #expect(throws: GPT2CheckpointError.invalidConfig(path: path, reason: "missing key n_head")) { try GPT2Checkpoint.readConfig(path) }
        try FileSystem.writeAtomically(Array(#"{"n_layer":2,"n_head":2,"n_embd":32,"n_positions":64,"vocab_size":256,"activation_function":"relu"}"#.utf8), to: path)
        let error = #expect(throws: GPT2CheckpointError.self) { try GPT2Checkpoint.readConfig(path) }
        #expect(error?.description.contains("relu") == true)
        let missing = #expect(throws: GPT2CheckpointError.self) { try GPT2Checkpoint.load(from: folder.file("nothing")) }
        guard case .file(let fileError) = missing else { Issue.record("expected a file error"); return }
        #expect(fileError.code == ENOENT)
    }

    @Test func savedConfigHasTheKeysTransformersNeeds() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let original = try GPT2Checkpoint.load(from: Fixture.path("tiny-gpt2"))
        try original.save(to: folder.path)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.file("config.json")))) as! [String: Any]
        #expect(json["model_type"] as? String == "gpt2")
        #expect(json["n_positions"] as? Int == 64)
        #expect(json["activation_function"] as? String == "gelu_new")
        #expect(json["architectures"] as? [String] == ["GPT2LMHeadModel"])
    }
}
