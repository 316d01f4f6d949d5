// ModelConfig: the shape of a transformer, and the projection table every parameter
// name, shape, LoRA layout, checkpoint mapping, activation size and FLOP count derives
// from. One config serves both families; a family switches the block body at its norm,
// its attention and its MLP only.

/// A bad model shape: what is wrong, named after the field a user sets.
public struct ModelConfigError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The hyperparameters that fix a transformer's tensor shapes.
public struct ModelConfig: Sendable, Equatable, Codable {
    /// The block body: GPT-2 (LayerNorm, fused qkv, learned positions, GELU MLP) or
    /// Llama (RMSNorm, separate q/k/v with rotary positions and grouped-query heads,
    /// SwiGLU MLP).
    public enum Family: String, Sendable, Codable, CaseIterable {
        case gpt2
        case llama
    }

    /// How a block normalises its input.
    public enum Norm: String, Sendable, Codable {
        /// (x − mean) / sqrt(var + eps) · weight + bias (GPT-2).
        case layerNorm
        /// x / sqrt(mean(x²) + eps) · weight (Llama).
        case rmsNorm
    }

    /// How positions enter the model.
    public enum Positions: Sendable, Equatable, Codable {
        /// A learned table added to the token embedding (GPT-2's `wpe`).
        case learned
        /// Rotary embeddings applied to q and k with base `theta` (Llama's `rope_theta`).
        case rotary(theta: Float)
    }

    public var family: Family
    public var norm: Norm
    public var positions: Positions
    /// Number of token ids V.
    public var vocabularySize: Int
    /// Width of the residual stream C.
    public var channels: Int
    /// Number of attention (query) heads NH; `channels` must be a multiple of it.
    public var heads: Int
    /// Number of key/value heads (grouped-query attention); equals `heads` for GPT-2.
    public var kvHeads: Int
    /// Width of the MLP's hidden layer (GPT-2's `n_inner`, 4C by default).
    public var mlpWidth: Int
    /// Longest sequence the positions cover (`n_positions`).
    public var maxSequenceLength: Int
    /// Epsilon of every norm (`layer_norm_epsilon`).
    public var normEpsilon: Float
    /// The index each block has in the model it was taken from, in order. A full model
    /// has 0..<L; a model built from a subset of another's blocks (an emulator) lists
    /// the ones it kept, so adapters name blocks alike on both.
    public var blocks: [Int]

    /// A GPT-2-family shape with `layers` blocks 0..<layers.
    public init(
        layers: Int, heads: Int, channels: Int, maxSequenceLength: Int, vocabularySize: Int,
        mlpWidth: Int? = nil, normEpsilon: Float = 1e-5
    ) {
        family = .gpt2
        norm = .layerNorm
        positions = .learned
        self.vocabularySize = vocabularySize
        self.channels = channels
        self.heads = heads
        kvHeads = heads
        self.mlpWidth = mlpWidth ?? 4 * channels
        self.maxSequenceLength = maxSequenceLength
        self.normEpsilon = normEpsilon
        blocks = Array(0..<max(0, layers))
    }

    /// Number of blocks L.
    public var layers: Int { blocks.count }

    /// Channels per head, C / NH.
    public var headSize: Int { channels / heads }

    /// A tiny model over bytes, for tests and quick experiments.
    public static let tiny = ModelConfig(layers: 2, heads: 2, channels: 32, maxSequenceLength: 64, vocabularySize: 256)

    /// GPT-2 small (124M parameters), the Hugging Face `gpt2` checkpoint.
    public static let gpt2Small = ModelConfig(layers: 12, heads: 12, channels: 768, maxSequenceLength: 1024, vocabularySize: 50257)

    /// Checks that the shape is one a model can have; the message names the field.
    public func validate() throws(ModelConfigError) {
        func positive(_ value: Int, _ name: String) throws(ModelConfigError) {
            guard value >= 1 else { throw ModelConfigError("\(name) must be at least 1 (got \(value))") }
        }
        try positive(layers, "layers")
        try positive(heads, "heads")
        try positive(channels, "channels")
        try positive(maxSequenceLength, "context")
        try positive(vocabularySize, "vocabulary")
        try positive(mlpWidth, "mlp width")
        try positive(kvHeads, "kv heads")
        guard channels % heads == 0 else {
            throw ModelConfigError("channels \(channels) is not a multiple of heads \(heads)")
        }
        guard heads % kvHeads == 0 else { throw ModelConfigError("heads \(heads) is not a multiple of kv heads \(kvHeads)") }
        guard normEpsilon > 0, normEpsilon.isFinite else { throw ModelConfigError("norm epsilon must be positive (got \(normEpsilon))") }
        guard blocks.allSatisfy({ $0 >= 0 }), zip(blocks, blocks.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw ModelConfigError("block indices \(blocks) must be increasing and non-negative")
        }
        guard family == .gpt2 else { throw ModelConfigError("the \(family.rawValue) family is not supported by this engine yet") }
    }

    /// The same shape with only the blocks at `positions` (indices into `blocks`).
    public func keepingBlocks(at positions: [Int]) -> ModelConfig {
        var copy = self
        copy.blocks = positions.map { blocks[$0] }
        return copy
    }
}

// MARK: - The projection table

/// A linear map inside a block that can carry adapters.
public struct Projection: Sendable, Equatable {
    /// The target name adapters use for it (the module path inside a block).
    public var target: LoRAConfig.Target
    /// (in, out) features.
    public var inFeatures: Int
    public var outFeatures: Int
    /// Whether the projection adds a bias.
    public var hasBias: Bool
}

extension ModelConfig {
    /// Every projection of one block, in the order the block applies them.
    public var projections: [Projection] {
        let C = channels, kv = kvHeads * headSize
        switch family {
        case .gpt2:
            return [
                Projection(target: .attentionQKV, inFeatures: C, outFeatures: 3 * C, hasBias: true),
                Projection(target: .attentionOutput, inFeatures: C, outFeatures: C, hasBias: true),
                Projection(target: .mlpIn, inFeatures: C, outFeatures: mlpWidth, hasBias: true),
                Projection(target: .mlpOut, inFeatures: mlpWidth, outFeatures: C, hasBias: true),
            ]
        case .llama:
            return [
                Projection(target: .query, inFeatures: C, outFeatures: C, hasBias: false),
                Projection(target: .key, inFeatures: C, outFeatures: kv, hasBias: false),
                Projection(target: .value, inFeatures: C, outFeatures: kv, hasBias: false),
                Projection(target: .output, inFeatures: C, outFeatures: C, hasBias: false),
                Projection(target: .gate, inFeatures: C, outFeatures: mlpWidth, hasBias: false),
                Projection(target: .up, inFeatures: C, outFeatures: mlpWidth, hasBias: false),
                Projection(target: .down, inFeatures: mlpWidth, outFeatures: C, hasBias: false),
            ]
        }
    }

    /// The projection adapters call `target`, if a block has it.
    public func projection(_ target: LoRAConfig.Target) -> Projection? {
        projections.first { $0.target == target }
    }

    /// The targets an adapter covers when none are named: every projection.
    public var defaultTargets: [LoRAConfig.Target] { projections.map(\.target) }

    /// Every parameter name and shape, in checkpoint order, named as Hugging Face's
    /// GPT-2 state dict (Conv1D weights stored [in, out]); block names count positions
    /// in this model (`h.0` … `h.{L-1}`), as a checkpoint of it stores them.
    public var parameterShapes: [(name: String, shape: [Int])] {
        let C = channels
        var shapes: [(String, [Int])] = [("wte.weight", [vocabularySize, C]), ("wpe.weight", [maxSequenceLength, C])]
        for l in 0..<layers {
            let p = "h.\(l)."
            shapes += [(p + "ln_1.weight", [C]), (p + "ln_1.bias", [C])]
            for (i, projection) in projections.enumerated() {
                if i == 2 { shapes += [(p + "ln_2.weight", [C]), (p + "ln_2.bias", [C])] }
                shapes.append((p + projection.target.rawValue + ".weight", [projection.inFeatures, projection.outFeatures]))
                if projection.hasBias { shapes.append((p + projection.target.rawValue + ".bias", [projection.outFeatures])) }
            }
        }
        shapes += [("ln_f.weight", [C]), ("ln_f.bias", [C])]
        return shapes
    }

    /// Number of base parameters (124,439,808 for GPT-2 small).
    public var parameterCount: Int { parameterShapes.reduce(0) { $0 + $1.shape.reduce(1, *) } }
}
