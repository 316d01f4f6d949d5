// ModelSource: where a base model comes from — a shape drawn at random from a seed
// (`random:tiny`, `random:gpt2`, `random:llama-tiny`, `random:smollm-135m`) or a
// Hugging Face-layout folder of either family — and TokenizerSource,
// where its tokenizer comes from. Every command and every node loads through these.

import Foundation

/// A model or tokenizer could not be had from its source; the message says why.
public struct SourceError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Where a base model comes from.
public enum ModelSource: Sendable, Equatable, CustomStringConvertible {
    /// A named shape with GPT-2's initialisation from the seed (every node holding the
    /// same source and seed holds the same base).
    case random(RandomShape)
    /// A Hugging Face-layout folder (`config.json` + `model.safetensors` or shards), GPT-2
    /// or Llama/Qwen2 by the config's `model_type`.
    case folder(String)

    /// The shapes `random:NAME` knows.
    public enum RandomShape: String, Sendable, CaseIterable {
        /// `ModelConfig.tiny` with the tokenizer's vocabulary.
        case tiny
        /// GPT-2 124M; its vocabulary of 50,257 holds any tokenizer used here.
        case gpt2
        /// `ModelConfig.llamaTiny` (three Llama blocks, grouped-query attention) with the
        /// tokenizer's vocabulary.
        case llamaTiny = "llama-tiny"
        /// The SmolLM-135M shape, `ModelConfig.smolLM135M`.
        case smolLM135M = "smollm-135m"
    }

    /// Reads `random:NAME` or a folder path (relative paths against `baseDirectory`).
    public init(parsing text: String, baseDirectory: String) throws(SourceError) {
        if text.hasPrefix("random:") {
            let name = String(text.dropFirst("random:".count))
            guard let shape = RandomShape(rawValue: name) else {
                throw SourceError("unknown random shape \"\(name)\" (known: \(RandomShape.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            self = .random(shape)
        } else {
            guard !text.isEmpty else { throw SourceError("the base model is empty: give a folder or random:tiny") }
            self = .folder(text.hasPrefix("/") ? text : FileSystem.join(baseDirectory, text))
        }
    }

    public var description: String {
        switch self {
        case .random(let shape): "random:\(shape.rawValue)"
        case .folder(let path): path
        }
    }

    /// Loads the base with `slots` on it (none trainable yet), for a tokenizer of
    /// `vocabularySize` ids.
    /// - Throws: `SourceError` naming the folder or shape and what is wrong.
    public func load(slots: [AdapterSlotSpec], seed: UInt64, vocabularySize: Int) throws(SourceError) -> TransformerModel {
        let config: ModelConfig
        var tensors: [String: NamedTensor]?
        switch self {
        case .random(.tiny):
            var tiny = ModelConfig.tiny
            tiny.vocabularySize = vocabularySize
            config = tiny
        case .random(.gpt2):
            config = .gpt2Small
        case .random(.llamaTiny):
            var tiny = ModelConfig.llamaTiny
            tiny.vocabularySize = vocabularySize
            config = tiny
        case .random(.smolLM135M):
            config = .smolLM135M
        case .folder(let folder):
            do {
                (config, tensors) = try Checkpoint.load(from: folder)
            } catch {
                throw SourceError("\(folder): \(error)")
            }
        }
        guard config.vocabularySize >= vocabularySize else {
            throw SourceError("\(self): vocabulary \(config.vocabularySize) is smaller than the tokenizer's \(vocabularySize)")
        }
        do {
            // The base comes from the checkpoint: no random base is drawn only to be overwritten.
            return try TransformerModel(config: config, slots: slots, seed: seed, parameters: tensors)
        } catch {
            throw SourceError("\(self): \(error)")
        }
    }
}

/// Where a tokenizer comes from: `bytes`, or a folder with a GPT-2 tokenizer
/// (`tokenizer.json`, or `vocab.json` + `merges.txt`).
public enum TokenizerSource {
    /// The tokenizer `name` names (relative folders against `baseDirectory`).
    public static func load(_ name: String, baseDirectory: String) throws(SourceError) -> any Tokenizer {
        if name == "bytes" { return ByteTokenizer() }
        let folder = name.hasPrefix("/") ? name : FileSystem.join(baseDirectory, name)
        do {
            let json = FileSystem.join(folder, "tokenizer.json")
            if FileSystem.exists(json) { return try GPT2Tokenizer(tokenizerJSONPath: json) }
            return try GPT2Tokenizer(vocabularyPath: FileSystem.join(folder, "vocab.json"), mergesPath: FileSystem.join(folder, "merges.txt"))
        } catch {
            throw SourceError("\(folder): \(error)")
        }
    }
}
