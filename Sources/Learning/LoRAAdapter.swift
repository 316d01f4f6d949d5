// The LoRA adapter as it leaves the model: the unit that is saved, signed, gossiped,
// scored by trust and averaged. Layout and names follow the PEFT library.

/// A dense row-major f32 tensor with a name.
public struct NamedTensor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]

    public init(name: String, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "\(name): shape \(shape) does not hold \(values.count) values")
        self.name = name
        self.shape = shape
        self.values = values
    }

    /// Number of values.
    public var count: Int { values.count }
}

/// Which projections carry LoRA, and how.
public struct LoRAConfig: Sendable, Equatable, Codable {
    /// A projection of a block that can carry an adapter. The raw value is the module
    /// path inside a block, as in Hugging Face and PEFT names; the first four are
    /// GPT-2's, the other seven Llama's.
    public enum Target: String, Sendable, Codable, CaseIterable {
        /// The fused query/key/value projection, C → 3C.
        case attentionQKV = "attn.c_attn"
        /// The attention output projection, C → C.
        case attentionOutput = "attn.c_proj"
        /// The MLP input projection, C → 4C.
        case mlpIn = "mlp.c_fc"
        /// The MLP output projection, 4C → C.
        case mlpOut = "mlp.c_proj"
        /// Llama's query projection, C → C.
        case query = "self_attn.q_proj"
        /// Llama's key projection, C → kv heads · head size.
        case key = "self_attn.k_proj"
        /// Llama's value projection, C → kv heads · head size.
        case value = "self_attn.v_proj"
        /// Llama's attention output projection, C → C.
        case output = "self_attn.o_proj"
        /// Llama's SwiGLU gate, C → MLP width.
        case gate = "mlp.gate_proj"
        /// Llama's SwiGLU up projection, C → MLP width.
        case up = "mlp.up_proj"
        /// Llama's SwiGLU down projection, MLP width → C.
        case down = "mlp.down_proj"

        /// GPT-2's four projections.
        public static let gpt2: [Target] = [.attentionQKV, .attentionOutput, .mlpIn, .mlpOut]
    }

    /// Rank r of every adapter.
    public var rank: Int
    /// LoRA alpha; the update is scaled by alpha / r.
    public var alpha: Float
    /// Dropout probability on the adapter's input during training.
    public var dropout: Float
    /// Projections that carry adapters, in canonical order.
    public var targets: [Target]
    /// The blocks that carry adapters, by block index (`ModelConfig.blocks`), in
    /// order; nil means every block.
    public var blocks: [Int]?

    public init(rank: Int = 4, alpha: Float = 32, dropout: Float = 0.1, targets: [Target] = Target.gpt2, blocks: [Int]? = nil) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targets = Target.allCases.filter(targets.contains)
        self.blocks = blocks.map { Array(Set($0)).sorted() }
    }

    /// Checks that the values are usable; the message names the setting.
    public func validate() throws(ModelConfigError) {
        guard rank >= 1 else { throw ModelConfigError("lora rank must be at least 1 (got \(rank))") }
        guard alpha.isFinite, alpha > 0 else { throw ModelConfigError("lora alpha must be positive (got \(alpha))") }
        guard dropout >= 0, dropout < 1 else { throw ModelConfigError("lora dropout must be in [0, 1) (got \(dropout))") }
        guard !targets.isEmpty else { throw ModelConfigError("lora needs at least one target") }
        if let blocks, blocks.isEmpty { throw ModelConfigError("lora blocks must name at least one block") }
    }

    /// The factor alpha / r applied to B·A.
    public var scale: Float { alpha / Float(rank) }
}

/// Every LoRA A and B of a model.
///
/// Tensor names are `h.{layer}.{target}.lora_A` with shape `[r, in]` and
/// `h.{layer}.{target}.lora_B` with shape `[out, r]` (the PEFT layout), ordered by
/// layer, then target in `LoRAConfig.Target` order, then A before B.
public struct LoRAAdapter: Sendable, Equatable {
    public var config: LoRAConfig
    public var tensors: [NamedTensor]

    public init(config: LoRAConfig, tensors: [NamedTensor]) {
        self.config = config
        self.tensors = tensors
    }

    /// The canonical name of the A (`isB == false`) or B matrix of `target` in block `layer`.
    public static func tensorName(layer: Int, target: LoRAConfig.Target, isB: Bool) -> String {
        "h.\(layer).\(target.rawValue).lora_\(isB ? "B" : "A")"
    }

    /// Total number of trainable values.
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }

    /// The tensor called `name`, if present.
    public subscript(name: String) -> NamedTensor? { tensors.first { $0.name == name } }

    /// Whether `other` has the same tensor names and shapes in the same order.
    public func hasSameLayout(as other: LoRAAdapter) -> Bool {
        tensors.count == other.tensors.count
            && zip(tensors, other.tensors).allSatisfy { $0.name == $1.name && $0.shape == $1.shape }
    }

    /// Whether every value is finite.
    public var isFinite: Bool { tensors.allSatisfy { $0.values.allSatisfy(\.isFinite) } }
}
