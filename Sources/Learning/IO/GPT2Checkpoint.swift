// GPT2Checkpoint: a GPT-2 checkpoint in the Hugging Face layout, a folder with
// `config.json` and `model.safetensors`, read into and written from named tensors.
// It knows the names and shapes of GPT-2 parameters but not the model that uses them.
//
// Names are normalised to the `GPT2Model` form: `wte.weight` [V, C], `wpe.weight`
// [P, C], `h.N.ln_1.weight` [C], `h.N.attn.c_attn.weight` [C, 3C] (Conv1D: [in, out]),
// ..., `ln_f.bias` [C]. An optional `transformer.` prefix is stripped; `lm_head.weight`
// (tied to `wte.weight`) and the `attn.bias` / `attn.masked_bias` mask buffers are dropped.

import Foundation

/// The hyper-parameters of a GPT-2 checkpoint (`config.json`).
public struct GPT2CheckpointConfig: Sendable, Equatable, Codable {
    /// Number of transformer blocks (`n_layer`).
    public var layerCount: Int
    /// Number of attention heads (`n_head`).
    public var headCount: Int
    /// Width of the residual stream C (`n_embd`).
    public var embeddingSize: Int
    /// Longest sequence the position table covers (`n_positions`, or `n_ctx`).
    public var contextLength: Int
    /// Number of token ids V (`vocab_size`).
    public var vocabularySize: Int
    /// The epsilon of every LayerNorm (`layer_norm_epsilon`).
    public var layerNormEpsilon: Float
    /// Width of the MLP's hidden layer (`n_inner`; 4C when null).
    public var innerSize: Int

    public init(
        layerCount: Int, headCount: Int, embeddingSize: Int, contextLength: Int,
        vocabularySize: Int, layerNormEpsilon: Float = 1e-5, innerSize: Int? = nil
    ) {
        self.layerCount = layerCount
        self.headCount = headCount
        self.embeddingSize = embeddingSize
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
        self.layerNormEpsilon = layerNormEpsilon
        self.innerSize = innerSize ?? 4 * embeddingSize
    }

    enum CodingKeys: String, CodingKey {
        case layerCount = "n_layer", headCount = "n_head", embeddingSize = "n_embd"
        case contextLength = "n_positions", legacyContextLength = "n_ctx"
        case vocabularySize = "vocab_size", layerNormEpsilon = "layer_norm_epsilon"
        case innerSize = "n_inner", modelType = "model_type", architectures
        case activation = "activation_function", tied = "tie_word_embeddings"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layerCount = try c.decode(Int.self, forKey: .layerCount)
        headCount = try c.decode(Int.self, forKey: .headCount)
        embeddingSize = try c.decode(Int.self, forKey: .embeddingSize)
        if let positions = try c.decodeIfPresent(Int.self, forKey: .contextLength) {
            contextLength = positions
        } else {
            contextLength = try c.decode(Int.self, forKey: .legacyContextLength)
        }
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? 1e-5
        innerSize = try c.decodeIfPresent(Int.self, forKey: .innerSize) ?? 4 * embeddingSize
        if let activation = try c.decodeIfPresent(String.self, forKey: .activation), activation != "gelu_new" {
            throw DecodingError.dataCorruptedError(
                forKey: .activation, in: c, debugDescription: "activation_function \(activation) is not supported (only gelu_new)")
        }
    }

    /// Writes the fields above plus those `transformers` needs to load the checkpoint.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(layerCount, forKey: .layerCount)
        try c.encode(headCount, forKey: .headCount)
        try c.encode(embeddingSize, forKey: .embeddingSize)
        try c.encode(contextLength, forKey: .contextLength)
        try c.encode(contextLength, forKey: .legacyContextLength)
        try c.encode(vocabularySize, forKey: .vocabularySize)
        try c.encode(Double(layerNormEpsilon), forKey: .layerNormEpsilon)
        if innerSize == 4 * embeddingSize { try c.encodeNil(forKey: .innerSize) } else { try c.encode(innerSize, forKey: .innerSize) }
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

    public var config: GPT2CheckpointConfig
    /// Every parameter by its normalised name (`wte.weight`, `h.0.attn.c_attn.weight`, ...).
    public var parameters: [String: NamedTensor]

    public init(config: GPT2CheckpointConfig, parameters: [String: NamedTensor]) {
        self.config = config
        self.parameters = parameters
    }

    /// Every parameter name and shape of a GPT-2 with `config`, in checkpoint order.
    public static func parameterShapes(for config: GPT2CheckpointConfig) -> [(name: String, shape: [Int])] {
        let c = config.embeddingSize
        let inner = config.innerSize
        var shapes: [(String, [Int])] = [("wte.weight", [config.vocabularySize, c]), ("wpe.weight", [config.contextLength, c])]
        for layer in 0..<config.layerCount {
            let p = "h.\(layer)."
            shapes += [
                (p + "ln_1.weight", [c]), (p + "ln_1.bias", [c]),
                (p + "attn.c_attn.weight", [c, 3 * c]), (p + "attn.c_attn.bias", [3 * c]),
                (p + "attn.c_proj.weight", [c, c]), (p + "attn.c_proj.bias", [c]),
                (p + "ln_2.weight", [c]), (p + "ln_2.bias", [c]),
                (p + "mlp.c_fc.weight", [c, inner]), (p + "mlp.c_fc.bias", [inner]),
                (p + "mlp.c_proj.weight", [inner, c]), (p + "mlp.c_proj.bias", [c]),
            ]
        }
        shapes += [("ln_f.weight", [c]), ("ln_f.bias", [c])]
        return shapes
    }

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
    public static func readConfig(_ path: String) throws(GPT2CheckpointError) -> GPT2CheckpointConfig {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readBytes(path) } catch { throw .file(error) }
        let config: GPT2CheckpointConfig
        do { config = try JSONDecoder().decode(GPT2CheckpointConfig.self, from: Data(bytes)) } catch {
            throw .invalidConfig(path: path, reason: describe(error))
        }
        guard config.layerCount >= 1, config.headCount >= 1, config.embeddingSize >= 1, config.contextLength >= 1,
            config.vocabularySize >= 1, config.innerSize >= 1
        else { throw .inconsistentConfig("every size must be positive") }
        guard config.embeddingSize % config.headCount == 0 else {
            throw .inconsistentConfig("n_embd \(config.embeddingSize) is not a multiple of n_head \(config.headCount)")
        }
        return config
    }

    /// Checks that `parameters` holds exactly the GPT-2 parameters of `config`.
    public static func validate(_ parameters: [String: NamedTensor], config: GPT2CheckpointConfig) throws(GPT2CheckpointError) {
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
            do { json = try encoder.encode(config) } catch {
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
