// GPT2Checkpoint: a GPT-2 checkpoint in the Hugging Face layout, a folder with
// `config.json` and `model.safetensors`, read into and written from named tensors.
// It knows the names and shapes of GPT-2 parameters but not the model that uses them.
//
// Names are normalised to the `TransformerModel` form: `wte.weight` [V, C], `wpe.weight`
// [P, C], `h.N.ln_1.weight` [C], `h.N.attn.c_attn.weight` [C, 3C] (Conv1D: [in, out]),
// ..., `ln_f.bias` [C]. An optional `transformer.` prefix is stripped; `lm_head.weight`
// (tied to `wte.weight`) and the `attn.bias` / `attn.masked_bias` mask buffers are dropped.

import Foundation

/// `config.json` of a Hugging Face GPT-2 checkpoint, field by field. Every field that
/// changes the computation is honoured (`n_inner`, `layer_norm_epsilon`) or refused
/// by name; the rest (dropouts, token ids, task settings) do not affect a forward pass
/// here and are ignored.
struct GPT2ConfigFile: Codable {
    var config: ModelConfig

    enum CodingKeys: String, CodingKey {
        case layerCount = "n_layer", headCount = "n_head", embeddingSize = "n_embd"
        case contextLength = "n_positions", legacyContextLength = "n_ctx"
        case vocabularySize = "vocab_size", layerNormEpsilon = "layer_norm_epsilon"
        case innerSize = "n_inner", modelType = "model_type", architectures
        case activation = "activation_function", tied = "tie_word_embeddings"
        case scaleByLayer = "scale_attn_by_inverse_layer_idx", upcast = "reorder_and_upcast_attn"
        case scaleWeights = "scale_attn_weights", blocks = "starling_blocks"
    }

    init(config: ModelConfig) { self.config = config }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let contextLength = try c.decodeIfPresent(Int.self, forKey: .contextLength) ?? c.decode(Int.self, forKey: .legacyContextLength)
        let embeddingSize = try c.decode(Int.self, forKey: .embeddingSize)
        config = ModelConfig(
            layers: try c.decode(Int.self, forKey: .layerCount), heads: try c.decode(Int.self, forKey: .headCount),
            channels: embeddingSize, maxSequenceLength: contextLength, vocabularySize: try c.decode(Int.self, forKey: .vocabularySize),
            mlpWidth: try c.decodeIfPresent(Int.self, forKey: .innerSize),
            normEpsilon: try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? 1e-5)
        if let blocks = try c.decodeIfPresent([Int].self, forKey: .blocks) {
            guard blocks.count == config.layers else {
                throw DecodingError.dataCorruptedError(
                    forKey: .blocks, in: c, debugDescription: "starling_blocks lists \(blocks.count) blocks for n_layer \(config.layers)")
            }
            config.blocks = blocks
        }
        func refuse(_ key: CodingKeys, _ why: String) -> DecodingError {
            DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(key.stringValue) \(why)")
        }
        if let activation = try c.decodeIfPresent(String.self, forKey: .activation), activation != "gelu_new" {
            throw refuse(.activation, "\(activation) is not supported (only gelu_new)")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .tied) == false { throw refuse(.tied, "false is not supported (the output layer is tied to wte)") }
        if try c.decodeIfPresent(Bool.self, forKey: .scaleByLayer) == true { throw refuse(.scaleByLayer, "true is not supported") }
        if try c.decodeIfPresent(Bool.self, forKey: .upcast) == true { throw refuse(.upcast, "true is not supported") }
        if try c.decodeIfPresent(Bool.self, forKey: .scaleWeights) == false { throw refuse(.scaleWeights, "false is not supported") }
        if let type = try c.decodeIfPresent(String.self, forKey: .modelType), type != "gpt2" {
            throw refuse(.modelType, "\(type) is not a GPT-2 checkpoint")
        }
    }

    /// Writes the fields above plus those `transformers` needs to load the checkpoint.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(config.layers, forKey: .layerCount)
        try c.encode(config.heads, forKey: .headCount)
        try c.encode(config.channels, forKey: .embeddingSize)
        try c.encode(config.maxSequenceLength, forKey: .contextLength)
        try c.encode(config.maxSequenceLength, forKey: .legacyContextLength)
        try c.encode(config.vocabularySize, forKey: .vocabularySize)
        try c.encode(Double(config.normEpsilon), forKey: .layerNormEpsilon)
        if config.mlpWidth == 4 * config.channels { try c.encodeNil(forKey: .innerSize) } else { try c.encode(config.mlpWidth, forKey: .innerSize) }
        if config.blocks != Array(0..<config.layers) { try c.encode(config.blocks, forKey: .blocks) }
        try c.encode("gpt2", forKey: .modelType)
        try c.encode(["GPT2LMHeadModel"], forKey: .architectures)
        try c.encode("gelu_new", forKey: .activation)
        try c.encode(true, forKey: .tied)
    }
}

/// A GPT-2 checkpoint could not be read or written.
public enum GPT2CheckpointError: Error, Equatable, CustomStringConvertible {
    /// `config.json` is not readable as a GPT-2 configuration.
    case invalidConfig(path: String, reason: String)
    /// The configuration describes an impossible model.
    case inconsistentConfig(String)
    /// `model.safetensors` is malformed.
    case weights(path: String, SafeTensorsError)
    /// A parameter the configuration requires is absent.
    case missingTensor(String)
    /// A tensor that is not a GPT-2 parameter.
    case unexpectedTensor(String)
    /// A parameter has the wrong shape.
    case wrongShape(name: String, expected: [Int], actual: [Int])
    /// A file could not be read or written.
    case file(FileError)

    public var description: String {
        switch self {
        case .invalidConfig(let path, let reason): return "\(path): not a GPT-2 config: \(reason)"
        case .inconsistentConfig(let reason): return "GPT-2 config: \(reason)"
        case .weights(let path, let error): return "\(path): \(error)"
        case .missingTensor(let name): return "GPT-2 checkpoint: parameter \(name) is missing"
        case .unexpectedTensor(let name): return "GPT-2 checkpoint: tensor \(name) is not a GPT-2 parameter"
        case .wrongShape(let name, let expected, let actual):
            return "GPT-2 checkpoint: parameter \(name) has shape \(actual), expected \(expected)"
        case .file(let error): return error.description
        }
    }
}

/// A GPT-2 checkpoint: its configuration and every parameter, by normalised name.
public struct GPT2Checkpoint: Sendable, Equatable {
    public static let configFileName = "config.json"
    public static let weightsFileName = "model.safetensors"

    public var config: ModelConfig
    /// Every parameter by its normalised name (`wte.weight`, `h.0.attn.c_attn.weight`, ...).
    public var parameters: [String: NamedTensor]

    public init(config: ModelConfig, parameters: [String: NamedTensor]) {
        self.config = config
        self.parameters = parameters
    }

    /// Every parameter name and shape of a GPT-2 with `config`, in checkpoint order
    /// (the projection table's, `ModelConfig.parameterShapes`).
    public static func parameterShapes(for config: ModelConfig) -> [(name: String, shape: [Int])] { config.parameterShapes }

    /// The normalised name of a checkpoint tensor, or nil for tensors that are not
    /// parameters (the tied `lm_head.weight`, the attention mask buffers).
    public static func normalizedName(_ name: String) -> String? {
        var name = Substring(name)
        if name.hasPrefix("transformer.") { name = name.dropFirst("transformer.".count) }
        if name == "lm_head.weight" || name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias") { return nil }
        return String(name)
    }

    /// Reads `config.json` and `model.safetensors` from `directory` and checks that the
    /// tensors are exactly the parameters the configuration calls for.
    public static func load(from directory: String) throws(GPT2CheckpointError) -> GPT2Checkpoint {
        let configPath = FileSystem.join(directory, configFileName)
        let config = try readConfig(configPath)
        let weightsPath = FileSystem.join(directory, weightsFileName)
        let file: SafeTensors
        do { file = try SafeTensors.read(from: weightsPath) } catch {
            if case .file(let fileError) = error { throw .file(fileError) }
            throw .weights(path: weightsPath, error)
        }
        var parameters: [String: NamedTensor] = [:]
        for var tensor in file.tensors {
            guard let name = normalizedName(tensor.name) else { continue }
            tensor.name = name
            parameters[name] = tensor
        }
        try validate(parameters, config: config)
        return GPT2Checkpoint(config: config, parameters: parameters)
    }

    /// Reads a GPT-2 `config.json`.
    public static func readConfig(_ path: String) throws(GPT2CheckpointError) -> ModelConfig {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readBytes(path) } catch { throw .file(error) }
        let config: ModelConfig
        do { config = try JSONDecoder().decode(GPT2ConfigFile.self, from: Data(bytes)).config } catch {
            throw .invalidConfig(path: path, reason: describe(error))
        }
        guard config.layers >= 1, config.heads >= 1, config.channels >= 1, config.maxSequenceLength >= 1,
            config.vocabularySize >= 1, config.mlpWidth >= 1
        else { throw .inconsistentConfig("every size must be positive") }
        guard config.channels % config.heads == 0 else {
            throw .inconsistentConfig("n_embd \(config.channels) is not a multiple of n_head \(config.heads)")
        }
        do { try config.validate() } catch { throw .inconsistentConfig(error.description) }
        return config
    }

    /// Checks that `parameters` holds exactly the GPT-2 parameters of `config`.
    public static func validate(_ parameters: [String: NamedTensor], config: ModelConfig) throws(GPT2CheckpointError) {
        let shapes = parameterShapes(for: config)
        for (name, shape) in shapes {
            guard let tensor = parameters[name] else { throw .missingTensor(name) }
            guard tensor.shape == shape else { throw .wrongShape(name: name, expected: shape, actual: tensor.shape) }
        }
        let known = Set(shapes.map(\.name))
        if let extra = parameters.keys.sorted().first(where: { !known.contains($0) }) { throw .unexpectedTensor(extra) }
    }

    /// Writes `config.json` and `model.safetensors` (names with the `transformer.` prefix,
    /// as `transformers` saves a `GPT2LMHeadModel`) into `directory`, each file atomically.
    public func save(to directory: String, as dtype: SafeTensors.DType = .f32) throws(GPT2CheckpointError) {
        try Self.validate(parameters, config: config)
        let tensors = Self.parameterShapes(for: config).map { entry in
            var tensor = parameters[entry.name]!
            tensor.name = "transformer." + entry.name
            return tensor
        }
        do throws(FileError) {
            try FileSystem.createDirectory(directory)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let json: Data
            do { json = try encoder.encode(GPT2ConfigFile(config: config)) } catch {
                throw FileError(path: FileSystem.join(directory, Self.configFileName), operation: "encode", reason: "\(error)")
            }
            try FileSystem.writeAtomically(Array(json) + [0x0A], to: FileSystem.join(directory, Self.configFileName))
        } catch { throw .file(error) }
        do {
            try SafeTensors.write(tensors, metadata: ["format": "pt"], as: dtype, to: FileSystem.join(directory, Self.weightsFileName))
        } catch {
            if case .file(let fileError) = error { throw .file(fileError) }
            throw .weights(path: FileSystem.join(directory, Self.weightsFileName), error)
        }
    }
}

/// A one-line account of a decoding error: what is wrong and where.
func describe(_ error: any Error) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
        return keys.isEmpty ? "" : " at \(keys.joined(separator: "."))"
    }
    switch error {
    case .keyNotFound(let key, let context): return "missing key \(key.stringValue)\(path(context))"
    case .typeMismatch(let type, let context): return "expected \(type)\(path(context))"
    case .valueNotFound(let type, let context): return "null where \(type) was expected\(path(context))"
    case .dataCorrupted(let context):
        let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
        return (underlying ?? context.debugDescription) + path(context)
    @unknown default: return "\(error)"
    }
}
