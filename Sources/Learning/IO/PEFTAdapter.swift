// PEFTAdapter: a LoRAAdapter saved as a PEFT (huggingface/peft) adapter folder, so that
// `PeftModel.from_pretrained(gpt2, folder)` loads what Starling trained, and back:
//
//   folder/adapter_model.safetensors   base_model.model.transformer.h.N.attn.c_attn.lora_A.weight [r, in]
//                                      base_model.model.transformer.h.N.attn.c_attn.lora_B.weight [out, r]
//   folder/adapter_config.json         peft_type LORA, r, lora_alpha, lora_dropout, target_modules, ...
//
// A Llama-family adapter names its tensors base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight
// and has fan_in_fan_out false; inside Starling both are canonical `h.N.<target>` names.
//
// Both files are written atomically (weights first, then the config).

import Foundation

/// A PEFT adapter folder could not be read or written.
public enum PEFTAdapterError: Error, Equatable, CustomStringConvertible {
    /// `adapter_config.json` is not a LoRA configuration Starling can use.
    case invalidConfig(path: String, reason: String)
    /// `adapter_model.safetensors` is malformed.
    case weights(path: String, SafeTensorsError)
    /// A tensor whose name is not a LoRA matrix of a GPT-2 projection.
    case unrecognizedTensor(String)
    /// The tensors do not form a complete adapter (every layer, every target, A and B).
    case incompleteAdapter(String)
    /// A LoRA matrix has a shape that does not fit the rank or its partner.
    case wrongShape(name: String, shape: [Int], reason: String)
    /// A file could not be read or written.
    case file(FileError)

    public var description: String {
        switch self {
        case .invalidConfig(let path, let reason): return "\(path): not a usable LoRA adapter config: \(reason)"
        case .weights(let path, let error): return "\(path): \(error)"
        case .unrecognizedTensor(let name): return "PEFT adapter: tensor \(name) is not a LoRA matrix of a GPT-2 or Llama projection"
        case .incompleteAdapter(let reason): return "PEFT adapter: \(reason)"
        case .wrongShape(let name, let shape, let reason): return "PEFT adapter: \(name) has shape \(shape): \(reason)"
        case .file(let error): return error.description
        }
    }
}

/// The contents of `adapter_config.json` that matter here, with PEFT's key names.
public struct PEFTAdapterConfig: Sendable, Equatable, Codable {
    public var peftType: String
    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    public var targetModules: [String]
    public var fanInFanOut: Bool
    public var taskType: String
    public var baseModel: String?
    public var bias: String
    /// The blocks that carry the adapter (PEFT's `layers_to_transform`); nil: every block.
    public var layersToTransform: [Int]?

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type", rank = "r", alpha = "lora_alpha", dropout = "lora_dropout"
        case targetModules = "target_modules", fanInFanOut = "fan_in_fan_out", taskType = "task_type"
        case baseModel = "base_model_name_or_path", bias, inferenceMode = "inference_mode"
        case layersToTransform = "layers_to_transform"
    }

    public init(lora: LoRAConfig, baseModel: String?) {
        peftType = "LORA"
        rank = lora.rank
        alpha = lora.alpha
        dropout = lora.dropout
        targetModules = lora.targets.map(\.rawValue)
        // GPT-2's Conv1D stores weights [in, out]; Llama's Linear [out, in].
        fanInFanOut = lora.targets.allSatisfy(LoRAConfig.Target.gpt2.contains)
        taskType = "CAUSAL_LM"
        self.baseModel = baseModel
        bias = "none"
        layersToTransform = lora.blocks
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peftType = try c.decodeIfPresent(String.self, forKey: .peftType) ?? "LORA"
        rank = try c.decode(Int.self, forKey: .rank)
        alpha = try c.decodeIfPresent(Float.self, forKey: .alpha) ?? 8
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? 0
        // PEFT accepts one module name (a regular expression) or a list of names.
        if let list = try? c.decode([String].self, forKey: .targetModules) {
            targetModules = list
        } else {
            targetModules = [try c.decodeIfPresent(String.self, forKey: .targetModules) ?? ""]
        }
        fanInFanOut = try c.decodeIfPresent(Bool.self, forKey: .fanInFanOut) ?? false
        taskType = try c.decodeIfPresent(String.self, forKey: .taskType) ?? "CAUSAL_LM"
        baseModel = try c.decodeIfPresent(String.self, forKey: .baseModel)
        bias = try c.decodeIfPresent(String.self, forKey: .bias) ?? "none"
        // PEFT accepts one block index or a list.
        if let list = try? c.decode([Int].self, forKey: .layersToTransform) {
            layersToTransform = list
        } else {
            layersToTransform = try c.decodeIfPresent(Int.self, forKey: .layersToTransform).map { [$0] }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(peftType, forKey: .peftType)
        try c.encode(rank, forKey: .rank)
        // An integral alpha is written as an integer, as PEFT writes it.
        if alpha == alpha.rounded(), abs(alpha) < 1e9 { try c.encode(Int(alpha), forKey: .alpha) } else { try c.encode(alpha, forKey: .alpha) }
        // Through the Float's shortest decimal, so 0.1 is written 0.1, not 0.10000000149.
        try c.encode(Double("\(dropout)") ?? Double(dropout), forKey: .dropout)
        try c.encode(targetModules, forKey: .targetModules)
        try c.encode(fanInFanOut, forKey: .fanInFanOut)
        try c.encode(taskType, forKey: .taskType)
        try c.encode(baseModel, forKey: .baseModel)
        try c.encode(bias, forKey: .bias)
        try c.encode(true, forKey: .inferenceMode)
        try c.encodeIfPresent(layersToTransform, forKey: .layersToTransform)
    }
}

/// Saving and loading LoRA adapters in the PEFT folder layout, and their safetensors
/// bytes alone (the form an adapter travels in).
public enum PEFTAdapter {
    public static let weightsFileName = "adapter_model.safetensors"
    public static let configFileName = "adapter_config.json"
    /// The prefix PEFT gives every tensor of a `GPT2LMHeadModel` adapter.
    public static let namePrefix = "base_model.model.transformer."
    /// The prefix PEFT gives every tensor of a `LlamaForCausalLM` or `Qwen2ForCausalLM`
    /// adapter; its blocks are `layers.N`, not `h.N`.
    public static let llamaNamePrefix = "base_model.model.model."

    /// The PEFT name of a canonical `LoRAAdapter` tensor name, in the naming of the
    /// family its target belongs to:
    /// `h.0.attn.c_attn.lora_A` → `base_model.model.transformer.h.0.attn.c_attn.lora_A.weight`,
    /// `h.0.self_attn.q_proj.lora_A` → `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`.
    public static func peftName(_ canonical: String) -> String {
        guard let parsed = canonicalName(canonical), !LoRAConfig.Target.gpt2.contains(parsed.target) else {
            return namePrefix + canonical + ".weight"
        }
        return llamaNamePrefix + "layers." + canonical.dropFirst("h.".count) + ".weight"
    }

    /// The canonical name of a PEFT tensor name, with or without the `base_model.model.`
    /// and `transformer.` prefixes, the `.weight` suffix and the `default` adapter name;
    /// nil when it is no LoRA matrix.
    public static func canonicalName(_ name: String) -> (layer: Int, target: LoRAConfig.Target, isB: Bool)? {
        var rest = Substring(name)
        for prefix in ["base_model.model.", "transformer.", "model."] where rest.hasPrefix(prefix) { rest = rest.dropFirst(prefix.count) }
        if rest.hasSuffix(".weight") { rest = rest.dropLast(".weight".count) }
        // An in-memory PEFT state dict names the adapter after the matrix: lora_A.<name>.
        for matrix in [".lora_A.", ".lora_B."] {
            if let range = rest.range(of: matrix), !rest[range.upperBound...].contains(".") { rest = rest[..<range.lowerBound] + matrix.dropLast() }
        }
        let isB: Bool
        if rest.hasSuffix(".lora_A") { isB = false } else if rest.hasSuffix(".lora_B") { isB = true } else { return nil }
        rest = rest.dropLast(".lora_A".count)
        // GPT-2 counts blocks as h.N, Llama as layers.N.
        if rest.hasPrefix("h.") { rest = rest.dropFirst(2) } else if rest.hasPrefix("layers.") { rest = rest.dropFirst(7) } else { return nil }
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]), layer >= 0,
            String(layer) == rest[..<dot],
            let target = LoRAConfig.Target(rawValue: String(rest[rest.index(after: dot)...]))
        else { return nil }
        return (layer, target, isB)
    }

    /// The safetensors bytes of `adapter`'s tensors under their PEFT names.
    public static func encodeWeights(_ adapter: LoRAAdapter, as dtype: SafeTensors.DType = .f32) throws(SafeTensorsError) -> [UInt8] {
        try SafeTensors.encode(peftTensors(adapter), metadata: ["format": "pt"], as: dtype)
    }

    /// The adapter held by safetensors bytes with PEFT (or canonical) names; `config`
    /// supplies alpha and dropout, the tensors supply the rank, layers and targets.
    public static func decodeWeights(_ bytes: [UInt8], config: LoRAConfig) throws(PEFTAdapterError) -> LoRAAdapter {
        let file: SafeTensors
        do { file = try SafeTensors.decode(bytes) } catch { throw .weights(path: "(buffer)", error) }
        return try assemble(file.tensors, alpha: config.alpha, dropout: config.dropout, rank: nil, blocks: config.blocks)
    }

    /// Writes `adapter` into `directory` (created if needed) as a PEFT adapter folder.
    /// - Parameter baseModel: recorded as `base_model_name_or_path`.
    public static func save(
        _ adapter: LoRAAdapter, to directory: String, baseModel: String? = nil, as dtype: SafeTensors.DType = .f32
    ) throws(PEFTAdapterError) {
        let weightsPath = FileSystem.join(directory, weightsFileName)
        let configPath = FileSystem.join(directory, configFileName)
        do { try FileSystem.createDirectory(directory) } catch { throw .file(error) }
        do {
            try SafeTensors.write(peftTensors(adapter), metadata: ["format": "pt"], as: dtype, to: weightsPath)
        } catch {
            if case .file(let fileError) = error { throw .file(fileError) }
            throw .weights(path: weightsPath, error)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json: Data
        // An adapter on a model that keeps only some blocks of another (an emulator)
        // names those blocks; the config says which, so the folder loads onto either.
        var lora = adapter.config
        if lora.blocks == nil {
            let named = Array(Set(adapter.tensors.compactMap { canonicalName($0.name)?.layer })).sorted()
            if named != Array(0..<named.count) { lora.blocks = named }
        }
        do { json = try encoder.encode(PEFTAdapterConfig(lora: lora, baseModel: baseModel)) } catch {
            throw .invalidConfig(path: configPath, reason: describe(error))
        }
        do { try FileSystem.writeAtomically(Array(json) + [0x0A], to: configPath) } catch { throw .file(error) }
    }

    /// Writes several named adapters the way PEFT saves a model carrying them: the
    /// adapter called `default` in `directory` itself, every other one in
    /// `directory/<name>/`, each a complete adapter folder.
    public static func save(
        named adapters: [(name: String, adapter: LoRAAdapter)], to directory: String, baseModel: String? = nil
    ) throws(PEFTAdapterError) {
        for (name, adapter) in adapters {
            try save(adapter, to: folder(of: name, in: directory), baseModel: baseModel)
        }
    }

    /// Reads adapter `name` of a folder written by `save(named:to:)`.
    public static func load(named name: String, from directory: String) throws(PEFTAdapterError) -> LoRAAdapter {
        try load(from: folder(of: name, in: directory))
    }

    /// Where PEFT keeps adapter `name` of a saved model: `default` at the top, others in a subfolder.
    public static func folder(of name: String, in directory: String) -> String {
        name == "default" ? directory : FileSystem.join(directory, name)
    }

    /// Reads the PEFT adapter folder at `directory`.
    public static func load(from directory: String) throws(PEFTAdapterError) -> LoRAAdapter {
        let configPath = FileSystem.join(directory, configFileName)
        let weightsPath = FileSystem.join(directory, weightsFileName)
        let configBytes: [UInt8]
        do { configBytes = try FileSystem.readBytes(configPath) } catch { throw .file(error) }
        let config: PEFTAdapterConfig
        do { config = try JSONDecoder().decode(PEFTAdapterConfig.self, from: Data(configBytes)) } catch {
            throw .invalidConfig(path: configPath, reason: describe(error))
        }
        guard config.peftType == "LORA" else { throw .invalidConfig(path: configPath, reason: "peft_type is \(config.peftType), not LORA") }
        guard config.rank >= 1 else { throw .invalidConfig(path: configPath, reason: "r is \(config.rank)") }
        guard config.bias == "none" else { throw .invalidConfig(path: configPath, reason: "bias \(config.bias) is not supported (only none)") }
        guard config.dropout >= 0 && config.dropout < 1 else {
            throw .invalidConfig(path: configPath, reason: "lora_dropout \(config.dropout) is not in [0, 1)")
        }
        let file: SafeTensors
        do { file = try SafeTensors.read(from: weightsPath) } catch {
            if case .file(let fileError) = error { throw .file(fileError) }
            throw .weights(path: weightsPath, error)
        }
        return try assemble(file.tensors, alpha: config.alpha, dropout: config.dropout, rank: config.rank, blocks: config.layersToTransform)
    }

    private static func peftTensors(_ adapter: LoRAAdapter) -> [NamedTensor] {
        adapter.tensors.map { NamedTensor(name: peftName($0.name), shape: $0.shape, values: $0.values) }
    }

    /// Orders `tensors` (PEFT or canonical names) canonically and checks that they form
    /// a complete adapter over the blocks they name.
    /// `blocks` names the blocks that must be there; nil: blocks 0 up to the last one named.
    public static func assemble(
        _ tensors: [NamedTensor], alpha: Float, dropout: Float, rank expectedRank: Int?, blocks: [Int]?
    ) throws(PEFTAdapterError) -> LoRAAdapter {
        struct Key: Hashable { var layer: Int; var target: LoRAConfig.Target; var isB: Bool }
        var byKey: [Key: NamedTensor] = [:]
        for tensor in tensors {
            guard let parsed = canonicalName(tensor.name) else { throw .unrecognizedTensor(tensor.name) }
            let key = Key(layer: parsed.layer, target: parsed.target, isB: parsed.isB)
            guard byKey[key] == nil else { throw .incompleteAdapter("two tensors for \(LoRAAdapter.tensorName(layer: key.layer, target: key.target, isB: key.isB))") }
            byKey[key] = NamedTensor(name: LoRAAdapter.tensorName(layer: key.layer, target: key.target, isB: key.isB), shape: tensor.shape, values: tensor.values)
        }
        guard !byKey.isEmpty else { throw .incompleteAdapter("no LoRA tensors") }
        let layers = blocks ?? Array(0...(byKey.keys.map(\.layer).max() ?? 0))
        if let stray = byKey.keys.map(\.layer).sorted().first(where: { !layers.contains($0) }) {
            throw .incompleteAdapter("block \(stray) carries LoRA tensors but is not among the adapter's blocks \(layers)")
        }
        let targets = LoRAConfig.Target.allCases.filter { target in byKey.keys.contains { $0.target == target } }
        // Without a config, the rank is that of the first A matrix in canonical order.
        let firstA = layers.lazy.flatMap { layer in targets.lazy.map { Key(layer: layer, target: $0, isB: false) } }
            .first { byKey[$0] != nil }
        let rank = expectedRank ?? firstA.flatMap { byKey[$0]?.shape.first } ?? 0

        var ordered: [NamedTensor] = []
        for layer in layers {
            for target in targets {
                guard let a = byKey[Key(layer: layer, target: target, isB: false)] else {
                    throw .incompleteAdapter("\(LoRAAdapter.tensorName(layer: layer, target: target, isB: false)) is missing")
                }
                guard let b = byKey[Key(layer: layer, target: target, isB: true)] else {
                    throw .incompleteAdapter("\(LoRAAdapter.tensorName(layer: layer, target: target, isB: true)) is missing")
                }
                guard a.shape.count == 2, a.shape[0] == rank, a.shape[1] >= 1 else {
                    throw .wrongShape(name: a.name, shape: a.shape, reason: "expected [\(rank), in]")
                }
                guard b.shape.count == 2, b.shape[1] == rank, b.shape[0] >= 1 else {
                    throw .wrongShape(name: b.name, shape: b.shape, reason: "expected [out, \(rank)]")
                }
                ordered += [a, b]
            }
        }
        let config = LoRAConfig(rank: rank, alpha: alpha, dropout: dropout, targets: targets, blocks: blocks)
        return LoRAAdapter(config: config, tensors: ordered)
    }
}
