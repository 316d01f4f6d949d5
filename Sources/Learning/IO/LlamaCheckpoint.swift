// LlamaCheckpoint: a Llama-family checkpoint in the Hugging Face layout — a folder with
// `config.json` and `model.safetensors` (or shards listed by
// `model.safetensors.index.json`) as `LlamaForCausalLM` and `Qwen2ForCausalLM` save
// them — read into and written from named tensors.
//
// The tensor names are Hugging Face's own and the model's: `model.embed_tokens.weight`
// [V, C], `model.layers.N.self_attn.q_proj.weight` [out, in], …, `model.norm.weight`
// [C], and `lm_head.weight` [V, C] when the output layer is not tied. Rotary
// `inv_freq` buffers of older checkpoints, and a tied checkpoint's copy of the
// embedding as `lm_head.weight`, are dropped.

import Foundation

/// `config.json` of a Hugging Face Llama or Qwen2 checkpoint, field by field. Every
/// field that changes the computation is honoured or refused by name; the rest
/// (dropouts, token ids, initializer range, cache settings) do not affect a forward
/// pass here and are ignored.
struct LlamaConfigFile: Codable {
    var config: ModelConfig

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", architectures
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", layers = "num_hidden_layers"
        case heads = "num_attention_heads", kvHeads = "num_key_value_heads", headDim = "head_dim"
        case vocabularySize = "vocab_size", context = "max_position_embeddings", epsilon = "rms_norm_eps"
        case ropeTheta = "rope_theta", ropeParameters = "rope_parameters", ropeScaling = "rope_scaling"
        case tied = "tie_word_embeddings", attentionBias = "attention_bias", mlpBias = "mlp_bias"
        case activation = "hidden_act", useSlidingWindow = "use_sliding_window", layerTypes = "layer_types"
        case blocks = "starling_blocks"
    }

    /// `rope_parameters` (transformers 5) or `rope_scaling` (earlier releases).
    struct Rope: Codable {
        var ropeType: String?
        var type: String?
        var ropeTheta: Double?
        enum CodingKeys: String, CodingKey { case ropeType = "rope_type", type, ropeTheta = "rope_theta" }
    }

    init(config: ModelConfig) { self.config = config }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func refuse(_ key: CodingKeys, _ why: String) -> DecodingError {
            DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(key.stringValue) \(why)")
        }
        let modelType = try c.decode(String.self, forKey: .modelType)
        guard modelType == "llama" || modelType == "qwen2" else { throw refuse(.modelType, "\(modelType) is not a llama or qwen2 checkpoint") }
        let channels = try c.decode(Int.self, forKey: .hiddenSize)
        let heads = try c.decode(Int.self, forKey: .heads)
        let parameters = try c.decodeIfPresent(Rope.self, forKey: .ropeParameters)
        let scaling = try c.decodeIfPresent(Rope.self, forKey: .ropeScaling)
        for (key, rope) in [(CodingKeys.ropeParameters, parameters), (.ropeScaling, scaling)] {
            if let type = rope?.ropeType ?? rope?.type, type != "default" {
                throw refuse(key, "type \(type) is not supported (only default rotary positions)")
            }
        }
        guard let theta = try parameters?.ropeTheta ?? scaling?.ropeTheta ?? c.decodeIfPresent(Double.self, forKey: .ropeTheta) else {
            throw refuse(.ropeTheta, "is missing (at the top level or in rope_parameters)")
        }
        // Qwen2 always has q, k and v biases; Llama's attention_bias would add one to o_proj too.
        let qwen2 = modelType == "qwen2"
        if try c.decodeIfPresent(Bool.self, forKey: .attentionBias) == true {
            throw refuse(.attentionBias, "true is not supported (biases on q, k, v and o)")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .mlpBias) == true { throw refuse(.mlpBias, "true is not supported") }
        if let activation = try c.decodeIfPresent(String.self, forKey: .activation), activation != "silu" {
            throw refuse(.activation, "\(activation) is not supported (only silu)")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) == true {
            throw refuse(.useSlidingWindow, "true is not supported (full attention only)")
        }
        if let types = try c.decodeIfPresent([String].self, forKey: .layerTypes), let other = types.first(where: { $0 != "full_attention" }) {
            throw refuse(.layerTypes, "\(other) is not supported (full_attention only)")
        }
        if let headDim = try c.decodeIfPresent(Int.self, forKey: .headDim), heads > 0, headDim != channels / heads {
            throw refuse(.headDim, "\(headDim) is not supported (only hidden_size / num_attention_heads = \(heads > 0 ? channels / heads : 0))")
        }
        config = .llama(
            layers: try c.decode(Int.self, forKey: .layers), heads: heads,
            kvHeads: try c.decodeIfPresent(Int.self, forKey: .kvHeads) ?? heads, channels: channels,
            mlpWidth: try c.decode(Int.self, forKey: .intermediateSize),
            maxSequenceLength: try c.decode(Int.self, forKey: .context),
            vocabularySize: try c.decode(Int.self, forKey: .vocabularySize), ropeTheta: Float(theta),
            normEpsilon: Float(try c.decodeIfPresent(Double.self, forKey: .epsilon) ?? 1e-6),
            tiedEmbeddings: try c.decodeIfPresent(Bool.self, forKey: .tied) ?? false, qkvBias: qwen2)
        if let blocks = try c.decodeIfPresent([Int].self, forKey: .blocks) {
            guard blocks.count == config.layers else {
                throw refuse(.blocks, "lists \(blocks.count) blocks for num_hidden_layers \(config.layers)")
            }
            config.blocks = blocks
        }
    }

    /// Writes the fields above as `transformers` reads them: Qwen2 when q, k and v have
    /// biases, else Llama; rope_theta both at the top level and in rope_parameters, so
    /// releases before and after transformers 5 read the same base.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let qwen2 = config.qkvBias
        try c.encode(qwen2 ? "qwen2" : "llama", forKey: .modelType)
        try c.encode([qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"], forKey: .architectures)
        try c.encode(config.channels, forKey: .hiddenSize)
        try c.encode(config.mlpWidth, forKey: .intermediateSize)
        try c.encode(config.layers, forKey: .layers)
        try c.encode(config.heads, forKey: .heads)
        try c.encode(config.kvHeads, forKey: .kvHeads)
        try c.encode(config.vocabularySize, forKey: .vocabularySize)
        try c.encode(config.maxSequenceLength, forKey: .context)
        try c.encode(Double("\(config.normEpsilon)") ?? Double(config.normEpsilon), forKey: .epsilon)
        let theta = Double("\(config.ropeTheta ?? 10000)") ?? 10000
        try c.encode(theta, forKey: .ropeTheta)
        try c.encode(Rope(ropeType: "default", type: nil, ropeTheta: theta), forKey: .ropeParameters)
        try c.encode(config.tiedEmbeddings, forKey: .tied)
        try c.encode("silu", forKey: .activation)
        if qwen2 {
            try c.encode(false, forKey: .useSlidingWindow)
        } else {
            try c.encode(false, forKey: .attentionBias)
            try c.encode(false, forKey: .mlpBias)
            try c.encode(config.headSize, forKey: .headDim)
        }
        if config.blocks != Array(0..<config.layers) { try c.encode(config.blocks, forKey: .blocks) }
    }
}

/// A Llama-family checkpoint could not be read or written.
public enum LlamaCheckpointError: Error, Equatable, CustomStringConvertible {
    /// `config.json` is not readable as a Llama or Qwen2 configuration, or asks for
    /// something this engine does not compute.
    case invalidConfig(path: String, reason: String)
    /// The configuration describes an impossible model.
    case inconsistentConfig(String)
    /// A safetensors file or the shard index is malformed.
    case weights(path: String, reason: String)
    /// A parameter the configuration requires is absent.
    case missingTensor(String)
    /// A tensor that is not a parameter of the configured model.
    case unexpectedTensor(String)
    /// A parameter has the wrong shape.
    case wrongShape(name: String, expected: [Int], actual: [Int])
    /// A file could not be read or written.
    case file(FileError)

    public var description: String {
        switch self {
        case .invalidConfig(let path, let reason): "\(path): not a usable Llama config: \(reason)"
        case .inconsistentConfig(let reason): "Llama config: \(reason)"
        case .weights(let path, let reason): "\(path): \(reason)"
        case .missingTensor(let name): "Llama checkpoint: parameter \(name) is missing"
        case .unexpectedTensor(let name): "Llama checkpoint: tensor \(name) is not a parameter of this model"
        case .wrongShape(let name, let expected, let actual): "Llama checkpoint: parameter \(name) has shape \(actual), expected \(expected)"
        case .file(let error): error.description
        }
    }
}

/// A Llama or Qwen2 checkpoint: its configuration and every parameter by its Hugging Face name.
public struct LlamaCheckpoint: Sendable, Equatable {
    public static let configFileName = "config.json"
    public static let weightsFileName = "model.safetensors"
    public static let indexFileName = "model.safetensors.index.json"

    public var config: ModelConfig
    public var parameters: [String: NamedTensor]

    public init(config: ModelConfig, parameters: [String: NamedTensor]) {
        self.config = config
        self.parameters = parameters
    }

    /// The checkpoint of `model`'s base parameters (its adapters are not part of it).
    public init(model: TransformerModel) {
        self.init(config: model.config, parameters: Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0) }))
    }

    /// Reads `config.json` and the weights — `model.safetensors`, or every shard the
    /// index names — from `directory`, and checks that the tensors are exactly the
    /// parameters the configuration calls for.
    public static func load(from directory: String) throws(LlamaCheckpointError) -> LlamaCheckpoint {
        let config = try readConfig(FileSystem.join(directory, configFileName))
        var files = [weightsFileName]
        let indexPath = FileSystem.join(directory, indexFileName)
        if !FileSystem.exists(FileSystem.join(directory, weightsFileName)) && FileSystem.exists(indexPath) {
            files = try shards(indexPath)
        }
        var parameters: [String: NamedTensor] = [:]
        for name in files {
            let path = FileSystem.join(directory, name)
            let file: SafeTensors
            do { file = try SafeTensors.read(from: path) } catch {
                if case .file(let fileError) = error { throw .file(fileError) }
                throw .weights(path: path, reason: error.description)
            }
            for tensor in file.tensors where !tensor.name.hasSuffix(".rotary_emb.inv_freq") {
                guard parameters[tensor.name] == nil else { throw .weights(path: path, reason: "tensor \(tensor.name) is in two shards") }
                parameters[tensor.name] = tensor
            }
        }
        if config.tiedEmbeddings { parameters["lm_head.weight"] = nil }
        try validate(parameters, config: config)
        return LlamaCheckpoint(config: config, parameters: parameters)
    }

    /// The shard files `model.safetensors.index.json` names, in order of first mention.
    static func shards(_ path: String) throws(LlamaCheckpointError) -> [String] {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readBytes(path) } catch { throw .file(error) }
        guard let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let map = json["weight_map"] as? [String: String]
        else { throw .weights(path: path, reason: "not a safetensors index (no weight_map of names to files)") }
        var files: [String] = []
        for name in map.keys.sorted() where !files.contains(map[name]!) {
            let file = map[name]!
            guard !file.contains("/"), !file.hasPrefix(".") else { throw .weights(path: path, reason: "shard \(file) is outside the folder") }
            files.append(file)
        }
        return files.sorted()
    }

    /// Reads a Llama or Qwen2 `config.json`.
    public static func readConfig(_ path: String) throws(LlamaCheckpointError) -> ModelConfig {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readBytes(path) } catch { throw .file(error) }
        let config: ModelConfig
        do { config = try JSONDecoder().decode(LlamaConfigFile.self, from: Data(bytes)).config } catch {
            throw .invalidConfig(path: path, reason: describe(error))
        }
        do { try config.validate() } catch { throw .inconsistentConfig(error.description) }
        return config
    }

    /// Checks that `parameters` holds exactly the parameters of `config`.
    public static func validate(_ parameters: [String: NamedTensor], config: ModelConfig) throws(LlamaCheckpointError) {
        let shapes = config.parameterShapes
        for (name, shape) in shapes {
            guard let tensor = parameters[name] else { throw .missingTensor(name) }
            guard tensor.shape == shape else { throw .wrongShape(name: name, expected: shape, actual: tensor.shape) }
        }
        let known = Set(shapes.map(\.name))
        if let extra = parameters.keys.sorted().first(where: { !known.contains($0) }) { throw .unexpectedTensor(extra) }
    }

    /// Writes `config.json` and `model.safetensors` into `directory`, each atomically;
    /// with `maxShardBytes`, the weights in shards of at most that many bytes (a tensor
    /// larger than it gets a shard of its own) and `model.safetensors.index.json`, as
    /// `save_pretrained(max_shard_size=…)` writes them.
    public func save(to directory: String, as dtype: SafeTensors.DType = .f32, maxShardBytes: Int? = nil) throws(LlamaCheckpointError) {
        try Self.validate(parameters, config: config)
        let tensors = config.parameterShapes.map { parameters[$0.name]! }
        do throws(FileError) {
            try FileSystem.createDirectory(directory)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let json: Data
            do { json = try encoder.encode(LlamaConfigFile(config: config)) } catch {
                throw FileError(path: FileSystem.join(directory, Self.configFileName), operation: "encode", reason: "\(error)")
            }
            try FileSystem.writeAtomically(Array(json) + [0x0A], to: FileSystem.join(directory, Self.configFileName))
        } catch { throw .file(error) }
        guard let maxShardBytes else {
            try write(tensors, as: dtype, to: FileSystem.join(directory, Self.weightsFileName))
            return
        }
        var groups: [[NamedTensor]] = [[]]
        var bytes = 0
        for tensor in tensors {
            let size = tensor.count * dtype.byteSize
            if bytes + size > maxShardBytes && !groups[groups.count - 1].isEmpty {
                groups.append([])
                bytes = 0
            }
            groups[groups.count - 1].append(tensor)
            bytes += size
        }
        var weightMap: [String: String] = [:]
        for (i, group) in groups.enumerated() {
            let name = "model-\(String(i + 1).leftPadded(to: 5))-of-\(String(groups.count).leftPadded(to: 5)).safetensors"
            try write(group, as: dtype, to: FileSystem.join(directory, name))
            for tensor in group { weightMap[tensor.name] = name }
        }
        let index: [String: Any] = ["metadata": ["total_size": tensors.reduce(0) { $0 + $1.count * dtype.byteSize }], "weight_map": weightMap]
        let indexPath = FileSystem.join(directory, Self.indexFileName)
        guard let json = try? JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys]) else {
            throw .weights(path: indexPath, reason: "the index could not be encoded")
        }
        do { try FileSystem.writeAtomically(Array(json) + [0x0A], to: indexPath) } catch { throw .file(error) }
    }

    private func write(_ tensors: [NamedTensor], as dtype: SafeTensors.DType, to path: String) throws(LlamaCheckpointError) {
        do { try SafeTensors.write(tensors, metadata: ["format": "pt"], as: dtype, to: path) } catch {
            if case .file(let fileError) = error { throw .file(fileError) }
            throw .weights(path: path, reason: error.description)
        }
    }
}

/// A Hugging Face checkpoint folder of either family, told apart by its config's
/// `model_type`: how every command and node reads and writes a base.
public enum Checkpoint {
    /// The configuration and parameters of the checkpoint in `directory`.
    /// - Throws: `GPT2CheckpointError` or `LlamaCheckpointError`, naming what is wrong.
    public static func load(from directory: String) throws -> (config: ModelConfig, parameters: [String: NamedTensor]) {
        switch try family(of: directory) {
        case .gpt2:
            let checkpoint = try GPT2Checkpoint.load(from: directory)
            return (checkpoint.config, checkpoint.parameters)
        case .llama:
            let checkpoint = try LlamaCheckpoint.load(from: directory)
            return (checkpoint.config, checkpoint.parameters)
        }
    }

    /// The family of the checkpoint in `directory`: `model_type` llama or qwen2 (or a
    /// Llama/Qwen2 architecture) is Llama, anything else is read as GPT-2.
    public static func family(of directory: String) throws(FileError) -> ModelConfig.Family {
        let bytes = try FileSystem.readBytes(FileSystem.join(directory, LlamaCheckpoint.configFileName))
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
        let type = json?["model_type"] as? String
        let architectures = json?["architectures"] as? [String] ?? []
        if type == "llama" || type == "qwen2" || architectures.contains(where: { $0.hasPrefix("Llama") || $0.hasPrefix("Qwen2") }) {
            return .llama
        }
        return .gpt2
    }

    /// Writes `model`'s base as its family's Hugging Face checkpoint into `directory`.
    public static func save(_ model: TransformerModel, to directory: String, as dtype: SafeTensors.DType = .f32) throws {
        switch model.config.family {
        case .gpt2: try GPT2Checkpoint(model: model).save(to: directory, as: dtype)
        case .llama: try LlamaCheckpoint(model: model).save(to: directory, as: dtype)
        }
    }
}
