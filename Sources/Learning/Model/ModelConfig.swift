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
    /// Whether the output layer is the token embedding (GPT-2, SmolLM, Qwen2's small
    /// models) or a separate `lm_head.weight` [V, C].
    public var tiedEmbeddings: Bool = true
    /// Whether q, k and v add a bias (Qwen2); Llama's projections have none.
    public var qkvBias: Bool = false

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

    /// A Llama-family shape with `layers` blocks 0..<layers: RMSNorm, rotary positions
    /// with base `ropeTheta`, `kvHeads` key/value heads, a SwiGLU MLP of `mlpWidth`.
    public static func llama(
        layers: Int, heads: Int, kvHeads: Int, channels: Int, mlpWidth: Int, maxSequenceLength: Int, vocabularySize: Int,
        ropeTheta: Float = 10000, normEpsilon: Float = 1e-5, tiedEmbeddings: Bool = true, qkvBias: Bool = false
    ) -> ModelConfig {
        var config = ModelConfig(layers: layers, heads: heads, channels: channels, maxSequenceLength: maxSequenceLength,
                                 vocabularySize: vocabularySize, mlpWidth: mlpWidth, normEpsilon: normEpsilon)
        config.family = .llama
        config.norm = .rmsNorm
        config.positions = .rotary(theta: ropeTheta)
        config.kvHeads = kvHeads
        config.tiedEmbeddings = tiedEmbeddings
        config.qkvBias = qkvBias
        return config
    }

    /// Number of blocks L.
    public var layers: Int { blocks.count }

    /// Channels of the key and value projections, kv heads · head size.
    public var kvChannels: Int { kvHeads * headSize }

    /// The rotary base, nil with learned positions.
    public var ropeTheta: Float? {
        if case .rotary(let theta) = positions { return theta }
        return nil
    }

    /// The name prefix of block `l`'s parameters (`h.0.` or `model.layers.0.`).
    public func blockPrefix(_ l: Int) -> String {
        family == .gpt2 ? "h.\(l)." : "model.layers.\(l)."
    }

    /// Channels per head, C / NH.
    public var headSize: Int { channels / heads }

    /// A tiny model over bytes, for tests and quick experiments.
    public static let tiny = ModelConfig(layers: 2, heads: 2, channels: 32, maxSequenceLength: 64, vocabularySize: 256)

    /// GPT-2 small (124M parameters), the Hugging Face `gpt2` checkpoint.
    public static let gpt2Small = ModelConfig(layers: 12, heads: 12, channels: 768, maxSequenceLength: 1024, vocabularySize: 50257)

    /// A tiny Llama over bytes, for tests and demos: three blocks of width 48, four
    /// query heads sharing two key/value heads, a SwiGLU MLP of 128, tied output.
    public static let llamaTiny = ModelConfig.llama(layers: 3, heads: 4, kvHeads: 2, channels: 48, mlpWidth: 128,
                                                    maxSequenceLength: 64, vocabularySize: 256)

    /// The shape of Hugging Face's `HuggingFaceTB/SmolLM-135M`: 30 blocks of width 576,
    /// 9 query heads over 3 key/value heads, MLP 1536, vocabulary 49,152, tied output,
    /// rope_theta 10000, rms_norm_eps 1e-5, 2048 positions.
    public static let smolLM135M = ModelConfig.llama(layers: 30, heads: 9, kvHeads: 3, channels: 576, mlpWidth: 1536,
                                                     maxSequenceLength: 2048, vocabularySize: 49152)

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
        switch family {
        case .gpt2:
            guard norm == .layerNorm, positions == .learned, kvHeads == heads, tiedEmbeddings, !qkvBias else {
                throw ModelConfigError("a gpt2 model has LayerNorm, learned positions, kv heads = heads, a tied output layer and no q/k/v bias")
            }
        case .llama:
            guard norm == .rmsNorm, let theta = ropeTheta else { throw ModelConfigError("a llama model has RMSNorm and rotary positions") }
            guard theta > 0, theta.isFinite else { throw ModelConfigError("rope theta must be positive (got \(theta))") }
            guard headSize % 2 == 0 else { throw ModelConfigError("rotary positions need an even head size (got \(headSize))") }
        }
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
                Projection(target: .query, inFeatures: C, outFeatures: C, hasBias: qkvBias),
                Projection(target: .key, inFeatures: C, outFeatures: kv, hasBias: qkvBias),
                Projection(target: .value, inFeatures: C, outFeatures: kv, hasBias: qkvBias),
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
    /// state dict. GPT-2: Conv1D weights stored [in, out], blocks `h.0` … `h.{L-1}`.
    /// Llama: `model.embed_tokens.weight` [V, C], Linear weights stored [out, in],
    /// blocks `model.layers.0` …, `model.norm.weight`, and `lm_head.weight` [V, C] when
    /// the output layer is not tied. Block names count positions in this model, as a
    /// checkpoint of it stores them.
    public var parameterShapes: [(name: String, shape: [Int])] {
        let C = channels
        var shapes: [(String, [Int])] = []
        switch family {
        case .gpt2: shapes = [("wte.weight", [vocabularySize, C]), ("wpe.weight", [maxSequenceLength, C])]
        case .llama: shapes = [("model.embed_tokens.weight", [vocabularySize, C])]
        }
        for l in 0..<layers {
            let p = blockPrefix(l)
            let (norm1, norm2) = family == .gpt2 ? ("ln_1", "ln_2") : ("input_layernorm", "post_attention_layernorm")
            // The second norm sits before the MLP's first projection.
            let mlpStart = family == .gpt2 ? 2 : 4
            for (i, projection) in projections.enumerated() {
                if i == 0 || i == mlpStart {
                    let norm = i == 0 ? norm1 : norm2
                    shapes.append((p + norm + ".weight", [C]))
                    if family == .gpt2 { shapes.append((p + norm + ".bias", [C])) }
                }
                let weight = family == .gpt2 ? [projection.inFeatures, projection.outFeatures] : [projection.outFeatures, projection.inFeatures]
                shapes.append((p + projection.target.rawValue + ".weight", weight))
                if projection.hasBias { shapes.append((p + projection.target.rawValue + ".bias", [projection.outFeatures])) }
            }
        }
        switch family {
        case .gpt2: shapes += [("ln_f.weight", [C]), ("ln_f.bias", [C])]
        case .llama:
            shapes.append(("model.norm.weight", [C]))
            if !tiedEmbeddings { shapes.append(("lm_head.weight", [vocabularySize, C])) }
        }
        return shapes
    }

    /// Position of the first MLP projection in `projections` (GPT-2's c_fc, Llama's gate).
    var mlpStart: Int { family == .gpt2 ? 2 : 4 }

    /// Number of projections that read a block's normalised input (GPT-2's fused qkv,
    /// Llama's q, k and v).
    var inputProjections: Int { family == .gpt2 ? 1 : 3 }

    /// Number of base parameters (124,439,808 for GPT-2 small).
    public var parameterCount: Int { parameterShapes.reduce(0) { $0 + $1.shape.reduce(1, *) } }
}

extension LoRAConfig {
    /// These settings on a model of `config`. `LoRAConfig`'s default targets are GPT-2's
    /// four projections, which a Llama block does not have; on a Llama they stand for
    /// every projection of its block (all seven), as they do on GPT-2. Targets named
    /// otherwise are kept, and a model refuses those its blocks lack.
    public func resolvingTargets(for config: ModelConfig) -> LoRAConfig {
        guard config.family == .llama, targets == Target.gpt2 else { return self }
        var copy = self
        copy.targets = config.defaultTargets
        return copy
    }
}
