// ParameterLayout: the size table that carves GPT-2's parameters out of one buffer.

/// One named tensor inside a flat buffer.
struct TensorSlot: Equatable {
    let name: String
    let shape: [Int]
    let offset: Int
    var count: Int { shape.reduce(1, *) }
}

/// Offsets of every GPT-2 parameter in one flat allocation, named and shaped exactly
/// as Hugging Face's `GPT2Model` state dict (Conv1D weights stored [in, out]). The
/// gradient buffer, in full training, uses the same offsets.
struct ParameterLayout {
    /// Offsets of one block's tensors.
    struct Block {
        var ln1Weight = 0, ln1Bias = 0
        var qkvWeight = 0, qkvBias = 0
        var attentionProjectionWeight = 0, attentionProjectionBias = 0
        var ln2Weight = 0, ln2Bias = 0
        var fcWeight = 0, fcBias = 0
        var fcProjectionWeight = 0, fcProjectionBias = 0
    }

    let slots: [TensorSlot]
    let count: Int
    let wte: Int, wpe: Int, lnfWeight: Int, lnfBias: Int
    let blocks: [Block]

    init(config: GPT2Config) {
        let C = config.channels, V = config.vocabularySize, maxT = config.maxSequenceLength
        var slots: [TensorSlot] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let slot = TensorSlot(name: name, shape: shape, offset: offset)
            slots.append(slot)
            offset += slot.count
            return slot.offset
        }
        wte = add("wte.weight", [V, C])
        wpe = add("wpe.weight", [maxT, C])
        var blocks: [Block] = []
        for l in 0..<config.layers {
            var block = Block()
            block.ln1Weight = add("h.\(l).ln_1.weight", [C])
            block.ln1Bias = add("h.\(l).ln_1.bias", [C])
            block.qkvWeight = add("h.\(l).attn.c_attn.weight", [C, 3 * C])
            block.qkvBias = add("h.\(l).attn.c_attn.bias", [3 * C])
            block.attentionProjectionWeight = add("h.\(l).attn.c_proj.weight", [C, C])
            block.attentionProjectionBias = add("h.\(l).attn.c_proj.bias", [C])
            block.ln2Weight = add("h.\(l).ln_2.weight", [C])
            block.ln2Bias = add("h.\(l).ln_2.bias", [C])
            block.fcWeight = add("h.\(l).mlp.c_fc.weight", [C, 4 * C])
            block.fcBias = add("h.\(l).mlp.c_fc.bias", [4 * C])
            block.fcProjectionWeight = add("h.\(l).mlp.c_proj.weight", [4 * C, C])
            block.fcProjectionBias = add("h.\(l).mlp.c_proj.bias", [C])
            blocks.append(block)
        }
        lnfWeight = add("ln_f.weight", [C])
        lnfBias = add("ln_f.bias", [C])
        self.blocks = blocks
        self.slots = slots
        self.count = offset
    }
}

/// Offsets of every LoRA A and B in one flat allocation, in the canonical
/// `LoRAAdapter` order (layer, then target, then A before B).
struct LoRALayout {
    struct Slot {
        let layer: Int
        let target: LoRAConfig.Target
        let inFeatures: Int
        let outFeatures: Int
        /// Offset of A (r, in) and of B (out, r).
        let a: Int, b: Int
    }

    let slots: [Slot]
    let count: Int
    /// slotIndex[layer][target position in `LoRAConfig.Target.allCases`].
    private let slotIndex: [[Int?]]

    init(config: GPT2Config, lora: LoRAConfig) {
        let C = config.channels, r = lora.rank
        var slots: [Slot] = []
        var index = Array(repeating: [Int?](repeating: nil, count: LoRAConfig.Target.allCases.count), count: config.layers)
        var offset = 0
        for l in 0..<config.layers {
            for target in lora.targets {
                let (inFeatures, outFeatures) = LoRALayout.features(of: target, channels: C)
                let a = offset
                offset += r * inFeatures
                let b = offset
                offset += outFeatures * r
                index[l][LoRAConfig.Target.allCases.firstIndex(of: target)!] = slots.count
                slots.append(Slot(layer: l, target: target, inFeatures: inFeatures, outFeatures: outFeatures, a: a, b: b))
            }
        }
        self.slots = slots
        self.slotIndex = index
        self.count = offset
    }

    /// The adapter of `target` in block `layer`, if that projection carries one.
    func slot(layer: Int, target: LoRAConfig.Target) -> Slot? {
        slotIndex[layer][LoRAConfig.Target.allCases.firstIndex(of: target)!].map { slots[$0] }
    }

    /// (in, out) features of a projection in a model of width C.
    static func features(of target: LoRAConfig.Target, channels C: Int) -> (Int, Int) {
        switch target {
        case .attentionQKV: (C, 3 * C)
        case .attentionOutput: (C, C)
        case .mlpIn: (C, 4 * C)
        case .mlpOut: (4 * C, C)
        }
    }
}
