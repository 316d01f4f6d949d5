// Llama and Qwen2 checkpoint folders and PEFT adapters in Llama names: what is written
// reads back identically (one file, shards, half precision), the fields this engine
// does not compute are refused by name, and what Swift wrote is what transformers and
// peft load (tools/fixtures/llama_interop.py records it in the committed
// Fixtures/llama-saved-by-swift/seen_by_python.json; STARLING_WRITE_FIXTURES=1
// rewrites the Swift-made folders).

import Foundation
import Testing

@testable import Learning

@Suite struct LlamaCheckpointTests {
    static let regenerate = ProcessInfo.processInfo.environment["STARLING_WRITE_FIXTURES"] == "1"

    @Test(arguments: LlamaReferenceTests.fixtures)
    func configOfTheFixtures(name: String) throws {
        let config = try LlamaCheckpoint.readConfig(Fixture.path("\(name)/config.json"))
        #expect(config.family == .llama)
        #expect(config.layers == 2 && config.channels == 24 && config.heads == 4 && config.kvHeads == 2 && config.mlpWidth == 40)
        #expect(config.vocabularySize == 48 && config.maxSequenceLength == 64)
        let qwen2 = name == "tiny-qwen2"
        #expect(config.tiedEmbeddings == qwen2 && config.qkvBias == qwen2)
        #expect(config.ropeTheta == (qwen2 ? 1_000_000 : 10000))
        #expect(config.normEpsilon == (qwen2 ? 1e-6 : 1e-5))
        #expect(try Checkpoint.family(of: Fixture.path(name)) == .llama)
        #expect(try Checkpoint.family(of: Fixture.path("tiny-gpt2")) == .gpt2)
    }

    @Test(arguments: LlamaReferenceTests.fixtures)
    func writtenCheckpointReadsBackIdentically(name: String) throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let original = try LlamaCheckpoint.load(from: Fixture.path(name))
        try original.save(to: folder.path)
        #expect(try LlamaCheckpoint.load(from: folder.path) == original)
        // Through the model and the family-agnostic entry points too.
        let model = try TransformerModel(config: original.config, lora: nil, seed: 1, parameters: original.parameters)
        let again = try TemporaryDirectory()
        defer { again.remove() }
        try Checkpoint.save(model, to: again.path)
        let loaded = try Checkpoint.load(from: again.path)
        #expect(loaded.config == original.config && loaded.parameters == original.parameters)
        #expect(try FileSystem.readBytes(again.file("model.safetensors")) == FileSystem.readBytes(folder.file("model.safetensors")))
    }

    @Test func shardedCheckpointReadsBackIdentically() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let original = try LlamaCheckpoint.load(from: Fixture.path("tiny-llama"))
        try original.save(to: folder.path, maxShardBytes: 12_000)
        #expect(!FileSystem.exists(folder.file(LlamaCheckpoint.weightsFileName)))
        let index = try JSONSerialization.jsonObject(with: Data(FileSystem.readBytes(folder.file(LlamaCheckpoint.indexFileName)))) as! [String: Any]
        let map = index["weight_map"] as! [String: String]
        #expect(Set(map.keys) == Set(original.parameters.keys))
        #expect(Set(map.values).count >= 3)
        #expect(try LlamaCheckpoint.load(from: folder.path) == original)
    }

    @Test(arguments: [SafeTensors.DType.f16, .bf16])
    func halfPrecisionCheckpointsReadBackRounded(dtype: SafeTensors.DType) throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let original = try LlamaCheckpoint.load(from: Fixture.path("tiny-qwen2"))
        try original.save(to: folder.path, as: dtype)
        let loaded = try LlamaCheckpoint.load(from: folder.path)
        #expect(loaded.config == original.config)
        let relative: Float = dtype == .f16 ? 1.0 / 1024 : 1.0 / 128
        for (name, tensor) in original.parameters {
            let read = try #require(loaded.parameters[name])
            #expect(read.shape == tensor.shape)
            #expect(zip(read.values, tensor.values).allSatisfy { abs($0 - $1) <= relative * abs($1) + 1e-7 }, "\(name)")
        }
        // Written again in the same precision, nothing changes: the rounding is exact once.
        let again = try TemporaryDirectory()
        defer { again.remove() }
        try loaded.save(to: again.path, as: dtype)
        #expect(try LlamaCheckpoint.load(from: again.path) == loaded)
    }

    /// tiny-llama's config.json with `change` applied, in a fresh folder with its weights.
    func folder(changing change: (inout [String: Any]) -> Void) throws -> TemporaryDirectory {
        let folder = try TemporaryDirectory()
        var json = try Fixture.json("tiny-llama/config.json") as! [String: Any]
        change(&json)
        try FileSystem.writeAtomically(Array(JSONSerialization.data(withJSONObject: json)), to: folder.file("config.json"))
        try FileSystem.writeAtomically(FileSystem.readBytes(Fixture.path("tiny-llama/model.safetensors")), to: folder.file("model.safetensors"))
        return folder
    }

    @Test func ropeThetaAtTheTopLevelAsEarlierTransformersWriteIt() throws {
        let folder = try folder { json in
            json["rope_parameters"] = nil
            json["rope_theta"] = 500_000.0
            json["rope_scaling"] = NSNull()
        }
        defer { folder.remove() }
        #expect(try LlamaCheckpoint.load(from: folder.path).config.ropeTheta == 500_000)
    }

    /// (field, its value as JSON, the start of the refusal's message).
    static let refusals: [(key: String, json: String, message: String)] = [
        ("rope_parameters", #"{"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0}"#, "rope_parameters type llama3 is not supported"),
        ("rope_scaling", #"{"type": "linear", "factor": 2.0}"#, "rope_scaling type linear is not supported"),
        ("attention_bias", "true", "attention_bias true is not supported"),
        ("mlp_bias", "true", "mlp_bias true is not supported"),
        ("head_dim", "8", "head_dim 8 is not supported"),
        ("hidden_act", #""gelu""#, "hidden_act gelu is not supported"),
        ("use_sliding_window", "true", "use_sliding_window true is not supported"),
        ("layer_types", #"["full_attention", "sliding_attention"]"#, "layer_types sliding_attention is not supported"),
        ("model_type", #""mistral""#, "model_type mistral is not a llama or qwen2 checkpoint"),
    ]

    @Test(arguments: refusals.indices)
    func unsupportedFieldsAreRefusedByName(index: Int) throws {
        let refusal = Self.refusals[index]
        let value = try JSONSerialization.jsonObject(with: Data(refusal.json.utf8), options: [.fragmentsAllowed])
        let folder = try folder { $0[refusal.key] = value }
        defer { folder.remove() }
        do {
            _ = try LlamaCheckpoint.load(from: folder.path)
            Issue.record("\(refusal.key) was accepted")
        } catch {
            #expect(error.description.contains(refusal.message), "\(error.description)")
        }
    }

    @Test func aTensorTheModelDoesNotHaveIsRefused() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var checkpoint = try LlamaCheckpoint.load(from: Fixture.path("tiny-llama"))
        checkpoint.config.tiedEmbeddings = true  // now lm_head.weight is extra
        #expect(throws: LlamaCheckpointError.unexpectedTensor("lm_head.weight")) { try checkpoint.save(to: folder.path) }
        checkpoint.config.tiedEmbeddings = false
        checkpoint.parameters["model.norm.weight"] = nil
        #expect(throws: LlamaCheckpointError.missingTensor("model.norm.weight")) { try checkpoint.save(to: folder.path) }
    }

    @Test(arguments: LlamaReferenceTests.fixtures)
    func adapterWrittenInLlamaNamesReadsBackIdentically(name: String) throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let adapter = try PEFTAdapter.load(from: Fixture.path("\(name)/adapter"))
        try PEFTAdapter.save(adapter, to: folder.path, baseModel: name)
        #expect(try PEFTAdapter.load(from: folder.path) == adapter)
        let names = try SafeTensors.read(from: folder.file(PEFTAdapter.weightsFileName)).tensors.map(\.name)
        #expect(Set(names) == Set(try SafeTensors.read(from: Fixture.path("\(name)/adapter/adapter_model.safetensors")).tensors.map(\.name)))
        #expect(names.contains("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"))
        let config = try JSONSerialization.jsonObject(with: Data(FileSystem.readBytes(folder.file(PEFTAdapter.configFileName)))) as! [String: Any]
        #expect(config["fan_in_fan_out"] as? Bool == false)
    }

    @Test func randomShapes() throws {
        let tiny = try ModelSource(parsing: "random:llama-tiny", baseDirectory: "/").load(slots: [], seed: 3, vocabularySize: 300)
        #expect(tiny.config.family == .llama && tiny.config.kvHeads < tiny.config.heads && tiny.config.vocabularySize == 300)
        #expect(tiny.config.layers == 3)
        let smol = ModelConfig.smolLM135M
        try smol.validate()
        // The parameter count of HuggingFaceTB/SmolLM-135M.
        #expect(smol.parameterCount == 134_515_008)
        #expect(ModelSource.RandomShape(rawValue: "smollm-135m") == .smolLM135M)
        // GPT-2's default targets stand for all seven Llama projections.
        let model = try ModelSource(parsing: "random:llama-tiny", baseDirectory: "/").load(
            slots: [AdapterSlotSpec(name: "default", lora: LoRAConfig(rank: 2))], seed: 3, vocabularySize: 256)
        #expect(model.slotConfig(named: "default")?.targets == [.query, .key, .value, .output, .gate, .up, .down])
    }

    // MARK: - Loaded by transformers and peft

    static let interop = "llama-saved-by-swift"
    static let interopTokens: [Int32] = [3, 17, 40, 2, 2, 29, 11, 47, 5, 0, 33, 21]

    /// A random Llama (untied) or Qwen2-shaped (tied, q/k/v biases) model of the fixtures'
    /// shape drawn by the engine, with a rank-2 adapter on all seven projections whose B
    /// is not zero.
    static func interopModel(qwen2: Bool) throws -> TransformerModel {
        var config = try LlamaCheckpoint.readConfig(Fixture.path(qwen2 ? "tiny-qwen2/config.json" : "tiny-llama/config.json"))
        config.tiedEmbeddings = qwen2
        let model = try TransformerModel(config: config, lora: LoRAConfig(rank: 2, alpha: 6, dropout: 0), seed: qwen2 ? 21 : 20, parameters: nil)
        // Give q/k/v biases something to carry.
        var tensors = model.namedParameters()
        for i in tensors.indices where tensors[i].name.hasSuffix(".bias") { tensors[i].values = testValues(tensors[i].count, seed: 40 + UInt64(i), scale: 0.2) }
        try model.loadParameters(Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) }))
        try model.setAdapter(randomized(model.adapter(), seed: qwen2 ? 61 : 60))
        return model
    }

    @Test(arguments: [false, true])
    func interopFolderIsWhatTheWriterMakes(qwen2: Bool) throws {
        let model = try Self.interopModel(qwen2: qwen2)
        let name = qwen2 ? "qwen2" : "llama"
        let made = try TemporaryDirectory()
        defer { made.remove() }
        try Checkpoint.save(model, to: made.path)
        try PEFTAdapter.save(model.adapter(), to: FileSystem.join(made.path, "adapter"), baseModel: "..")
        if Self.regenerate {
            let target = Fixture.sourcePath("\(Self.interop)/\(name)")
            try FileSystem.createDirectory(Fixture.sourcePath(Self.interop))
            try Checkpoint.save(model, to: target)
            try PEFTAdapter.save(model.adapter(), to: FileSystem.join(target, "adapter"), baseModel: "..")
        }
        for file in ["config.json", "model.safetensors", "adapter/adapter_config.json", "adapter/adapter_model.safetensors"] {
            #expect(try FileSystem.readBytes(made.file(file)) == FileSystem.readBytes(Fixture.path("\(Self.interop)/\(name)/\(file)")) || Self.regenerate,
                    "\(file)")
        }
    }

    @Test(arguments: [false, true])
    func transformersAndPEFTLoadedWhatSwiftWrote(qwen2: Bool) throws {
        let name = qwen2 ? "qwen2" : "llama"
        let seen = try Fixture.json("\(Self.interop)/seen_by_python.json") as! [String: Any]
        let record = try #require(seen[name] as? [String: Any])
        #expect(record["loaded_by"] as? String == (qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"))
        #expect(record["missing_keys"] as? [String] == [])
        #expect(record["unexpected_keys"] as? [String] == [])
        #expect(record["every_weight_equal_to_file"] as? Bool == true)
        #expect(record["every_lora_weight_equal_to_file"] as? Bool == true)
        #expect(record["lora_modules"] as? Int == 2 * 7 * 2)
        #expect(record["tokens"] as? [Int] == Self.interopTokens.map(Int.init))
        // The engine on the committed folder computes what transformers and peft computed.
        let source = ModelSource.folder(Fixture.path("\(Self.interop)/\(name)"))
        let adapter = try PEFTAdapter.load(from: Fixture.path("\(Self.interop)/\(name)/adapter"))
        let model = try source.load(slots: [AdapterSlotSpec(name: "default", lora: adapter.config)], seed: 1, vocabularySize: 48)
        let T = Self.interopTokens.count
        for (key, adapted) in [("logits", false), ("adapted_logits", true)] {
            model.activeSlots = adapted ? ["default"] : []
            if adapted { try model.setAdapter(adapter) }
            model.forward(inputs: Self.interopTokens, targets: nil, batchSize: 1, sequenceLength: T, training: false)
            let expected = (record[key] as! [[Double]]).flatMap { $0 }
            let difference = model.withLogits { maxAbsDifference(Array($0).doubles, expected) }
            #expect(difference <= 1e-4, "\(key): max |Δ| = \(difference)")
        }
        #expect((record["max_abs_change_from_adapter"] as! NSNumber).doubleValue > 0.01)
    }
}

@Suite struct LlamaConfigValidationTests {
    @Test func shapesARotaryModelCannotHaveAreRefusedByName() {
        let odd = ModelConfig.llama(layers: 1, heads: 4, kvHeads: 2, channels: 20, mlpWidth: 8, maxSequenceLength: 8, vocabularySize: 8)
        #expect(throws: ModelConfigError("rotary positions need an even head size (got 5)")) { try odd.validate() }
        let groups = ModelConfig.llama(layers: 1, heads: 4, kvHeads: 3, channels: 24, mlpWidth: 8, maxSequenceLength: 8, vocabularySize: 8)
        #expect(throws: ModelConfigError("heads 4 is not a multiple of kv heads 3")) { try groups.validate() }
        let theta = ModelConfig.llama(layers: 1, heads: 4, kvHeads: 2, channels: 24, mlpWidth: 8, maxSequenceLength: 8, vocabularySize: 8, ropeTheta: 0)
        #expect(throws: ModelConfigError("rope theta must be positive (got 0.0)")) { try theta.validate() }
        var gpt2 = ModelConfig.tiny
        gpt2.kvHeads = 1
        #expect(throws: (any Error).self) { try gpt2.validate() }
        #expect(throws: Never.self) { try ModelConfig.llamaTiny.validate() }
    }
}
