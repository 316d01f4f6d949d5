import Foundation
import Testing

@testable import Learning

/// A complete adapter with deterministic non-zero values, for GPT-2 width `c`.
func sampleAdapter(layers: Int = 2, c: Int = 32, config: LoRAConfig = LoRAConfig(rank: 4, alpha: 8, dropout: 0.1)) -> LoRAAdapter {
    let shape = ModelConfig(layers: layers, heads: 1, channels: c, maxSequenceLength: 1, vocabularySize: 1)
    var k = 0
    let tensors = shape.adapterShapes(config).map { name, shape in
        k += 1
        let values = (0..<(shape[0] * shape[1])).map { Float(sin(Double($0) * 0.37 + Double(k))) * 0.2 }
        return NamedTensor(name: name, shape: shape, values: values)
    }
    return LoRAAdapter(config: config, tensors: tensors)
}

@Suite struct PEFTAdapterTests {
    @Test func saveThenLoadRoundTrips() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let adapter = sampleAdapter()
        try PEFTAdapter.save(adapter, to: folder.file("adapter"), baseModel: "tiny-gpt2")
        #expect(try FileSystem.contentsOfDirectory(folder.file("adapter")) == ["adapter_config.json", "adapter_model.safetensors"])
        let loaded = try PEFTAdapter.load(from: folder.file("adapter"))
        #expect(loaded == adapter)
    }

    @Test func tensorsCarryPEFTNamesAndShapes() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try PEFTAdapter.save(sampleAdapter(), to: folder.path)
        let file = try SafeTensors.read(from: folder.file("adapter_model.safetensors"))
        #expect(file.tensors.count == 16)
        #expect(file["base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"]?.shape == [4, 32])
        #expect(file["base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"]?.shape == [96, 4])
        #expect(file["base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight"]?.shape == [4, 128])
        #expect(file["base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight"]?.shape == [32, 4])
        #expect(file.metadata == ["format": "pt"])
    }

    @Test func configHasThePEFTKeys() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try PEFTAdapter.save(sampleAdapter(config: LoRAConfig(rank: 4, alpha: 32, dropout: 0.1, targets: [.attentionQKV, .mlpOut])), to: folder.path, baseModel: "gpt2")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.file("adapter_config.json")))) as! [String: Any]
        #expect(json["peft_type"] as? String == "LORA")
        #expect(json["r"] as? Int == 4)
        #expect((json["lora_alpha"] as? NSNumber)?.doubleValue == 32)
        #expect((json["lora_dropout"] as? NSNumber)?.doubleValue == 0.1)
        #expect(json["target_modules"] as? [String] == ["attn.c_attn", "mlp.c_proj"])
        #expect(json["fan_in_fan_out"] as? Bool == true)
        #expect(json["task_type"] as? String == "CAUSAL_LM")
        #expect(json["base_model_name_or_path"] as? String == "gpt2")
        #expect(json["bias"] as? String == "none")
    }

    @Test func loadsF16WeightsAndNamesWithoutThePrefix() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let adapter = sampleAdapter(layers: 1, c: 8, config: LoRAConfig(rank: 2, alpha: 4, dropout: 0, targets: [.attentionOutput]))
        try PEFTAdapter.save(adapter, to: folder.path, as: .f16)
        let loaded = try PEFTAdapter.load(from: folder.path)
        #expect(loaded.hasSameLayout(as: adapter))
        for (a, b) in zip(loaded.tensors, adapter.tensors) {
            #expect(a.values == b.values.map { HalfPrecision.float(fromF16: HalfPrecision.f16Bits(from: $0)) })
        }
        // The same tensors under bare and transformer-prefixed names.
        let renamed = adapter.tensors.enumerated().map { index, tensor in
            NamedTensor(name: (index == 0 ? "transformer." : "") + tensor.name + (index == 1 ? "" : ".weight"), shape: tensor.shape, values: tensor.values)
        }
        try SafeTensors.write(renamed, to: folder.file("adapter_model.safetensors"))
        #expect(try PEFTAdapter.load(from: folder.path) == adapter)
    }

    @Test func weightsBytesRoundTripForTheWire() throws {
        let adapter = sampleAdapter()
        let bytes = try PEFTAdapter.encodeWeights(adapter)
        #expect(try PEFTAdapter.decodeWeights(bytes, config: adapter.config) == adapter)
    }

    @Test func canonicalNamesParse() {
        let parsed = PEFTAdapter.canonicalName("base_model.model.transformer.h.11.mlp.c_fc.lora_B.weight")
        #expect(parsed?.layer == 11)
        #expect(parsed?.target == .mlpIn)
        #expect(parsed?.isB == true)
        #expect(PEFTAdapter.canonicalName("h.0.attn.c_attn.lora_A.default.weight")?.target == .attentionQKV)
        #expect(PEFTAdapter.canonicalName("h.x.attn.c_attn.lora_A") == nil)
        #expect(PEFTAdapter.canonicalName("h.01.attn.c_attn.lora_A") == nil)
        #expect(PEFTAdapter.canonicalName("h.0.attn.q_proj.lora_A") == nil)
        #expect(PEFTAdapter.canonicalName("h.0.attn.c_attn.weight") == nil)
        #expect(PEFTAdapter.peftName("h.3.mlp.c_proj.lora_A") == "base_model.model.transformer.h.3.mlp.c_proj.lora_A.weight")
    }

    @Test func incompleteOrInconsistentAdaptersAreErrors() throws {
        let adapter = sampleAdapter(layers: 2, c: 8, config: LoRAConfig(rank: 2, alpha: 4, dropout: 0, targets: [.attentionQKV]))
        let withoutB = Array(adapter.tensors.dropLast())
        #expect(throws: PEFTAdapterError.incompleteAdapter("h.1.attn.c_attn.lora_B is missing")) {
            try PEFTAdapter.decodeWeights(try SafeTensors.encode(withoutB), config: adapter.config)
        }
        let withoutLayer0 = Array(adapter.tensors.dropFirst(2))
        #expect(throws: PEFTAdapterError.incompleteAdapter("h.0.attn.c_attn.lora_A is missing")) {
            try PEFTAdapter.decodeWeights(try SafeTensors.encode(withoutLayer0), config: adapter.config)
        }
        var stranger = adapter.tensors
        stranger.append(NamedTensor(name: "h.0.attn.c_attn.weight", shape: [1], values: [0]))
        #expect(throws: PEFTAdapterError.unrecognizedTensor("h.0.attn.c_attn.weight")) {
            try PEFTAdapter.decodeWeights(try SafeTensors.encode(stranger), config: adapter.config)
        }
        var wrongRank = adapter.tensors
        wrongRank[3] = NamedTensor(name: wrongRank[3].name, shape: [24, 1], values: [Float](repeating: 0, count: 24))
        #expect(throws: PEFTAdapterError.wrongShape(name: "h.1.attn.c_attn.lora_B", shape: [24, 1], reason: "expected [out, 2]")) {
            try PEFTAdapter.decodeWeights(try SafeTensors.encode(wrongRank), config: adapter.config)
        }
    }

    @Test func configsThatAreNotLoRAAreErrors() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try PEFTAdapter.save(sampleAdapter(), to: folder.path)
        let path = folder.file("adapter_config.json")
        try FileSystem.writeAtomically(Array(#"{"peft_type":"IA3","r":4}"#.utf8), to: path)
        #expect(throws: PEFTAdapterError.invalidConfig(path: path, reason: "peft_type is IA3, not LORA")) { try PEFTAdapter.load(from: folder.path) }
        try FileSystem.writeAtomically(Array(#"{"peft_type":"LORA"}"#.utf8), to: path)
        #expect(throws: PEFTAdapterError.invalidConfig(path: path, reason: "missing key r")) { try PEFTAdapter.load(from: folder.path) }
        try FileSystem.writeAtomically(Array(#"{"peft_type":"LORA","r":4,"bias":"all"}"#.utf8), to: path)
        #expect(throws: PEFTAdapterError.invalidConfig(path: path, reason: "bias all is not supported (only none)")) { try PEFTAdapter.load(from: folder.path) }
        // A target_modules string (a regular expression in PEFT) is accepted.
        try FileSystem.writeAtomically(Array(#"{"peft_type":"LORA","r":4,"lora_alpha":8,"target_modules":".*c_attn"}"#.utf8), to: path)
        #expect(try PEFTAdapter.load(from: folder.path).config.alpha == 8)
    }
}
