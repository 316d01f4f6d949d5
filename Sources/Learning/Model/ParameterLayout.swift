// ParameterLayout: the size table that carves a model's parameters out of one buffer,
// and LoRALayout, the same for one adapter slot. Both read the projection table of
// `ModelConfig`; neither restates a block's shape.

/// One named tensor inside a flat buffer.
struct TensorSlot: Equatable {
    let name: String
    let shape: [Int]
    let offset: Int
    var count: Int { shape.reduce(1, *) }
}

/// Offsets of every parameter in one flat allocation, named and shaped as
/// `ModelConfig.parameterShapes` lists them. A gradient buffer uses the same offsets.
/// An offset of -1 marks a tensor the family does not have (a norm bias, learned
/// positions, a separate output layer).
struct ParameterLayout {
    /// Offsets of one block's tensors.
    struct Block {
        /// The norm before attention and the one before the MLP.
        var ln1Weight = 0, ln1Bias = -1
        var ln2Weight = 0, ln2Bias = -1
        /// Weight and bias offset of each projection, in `ModelConfig.projections` order
        /// (bias -1 when the projection has none).
        var weights: [Int] = []
        var biases: [Int] = []
        /// The block's tensors occupy `range` of the buffer, contiguously.
        var range: Range<Int> = 0..<0
    }

    let slots: [TensorSlot]
    let count: Int
    /// Token embedding (V,C), learned positions (maxT,C) or -1, final norm weight and
    /// bias (-1 for RMSNorm).
    let wte: Int, wpe: Int, lnfWeight: Int, lnfBias: Int
    /// The output layer (V,C): `wte` when tied, else `lm_head.weight`.
    let output: Int
    let blocks: [Block]

    init(config: ModelConfig) {
        var slots: [TensorSlot] = []
        var offsets: [String: Int] = [:]
        var offset = 0
        for (name, shape) in config.parameterShapes {
            let slot = TensorSlot(name: name, shape: shape, offset: offset)
            slots.append(slot)
            offsets[name] = offset
            offset += slot.count
        }
        let gpt2 = config.family == .gpt2
        wte = offsets[gpt2 ? "wte.weight" : "model.embed_tokens.weight"]!
        wpe = offsets["wpe.weight"] ?? -1
        lnfWeight = offsets[gpt2 ? "ln_f.weight" : "model.norm.weight"]!
        lnfBias = offsets["ln_f.bias"] ?? -1
        output = offsets["lm_head.weight"] ?? wte
        let (norm1, norm2) = gpt2 ? ("ln_1", "ln_2") : ("input_layernorm", "post_attention_layernorm")
        blocks = (0..<config.layers).map { l in
            let p = config.blockPrefix(l)
            var block = Block()
            block.ln1Weight = offsets[p + norm1 + ".weight"]!
            block.ln1Bias = offsets[p + norm1 + ".bias"] ?? -1
            block.ln2Weight = offsets[p + norm2 + ".weight"]!
            block.ln2Bias = offsets[p + norm2 + ".bias"] ?? -1
            for projection in config.projections {
                block.weights.append(offsets[p + projection.target.rawValue + ".weight"]!)
                block.biases.append(offsets[p + projection.target.rawValue + ".bias"] ?? -1)
            }
            let own = slots.filter { $0.name.hasPrefix(p) }
            block.range = own.first!.offset..<(own.last!.offset + own.last!.count)
            return block
        }
        self.slots = slots
        self.count = offset
    }
}

/// Offsets of every LoRA A and B of one adapter slot in one flat allocation, in the
/// canonical `LoRAAdapter` order (block, then target, then A before B).
struct LoRALayout {
    struct Slot {
        /// Position of the block in the model, and its index in the source model.
        let layer: Int
        let blockIndex: Int
        let target: LoRAConfig.Target
        let inFeatures: Int
        let outFeatures: Int
        /// Offset of A (r, in) and of B (out, r).
        let a: Int, b: Int
    }

    let slots: [Slot]
    let count: Int
    /// slotIndex[layer][projection position in `ModelConfig.projections`].
    private let slotIndex: [[Int?]]

    init(config: ModelConfig, lora: LoRAConfig) {
        let r = lora.rank
        let projections = config.projections
        var slots: [Slot] = []
        var index = Array(repeating: [Int?](repeating: nil, count: projections.count), count: config.layers)
        var offset = 0
        for (l, blockIndex) in config.blocks.enumerated() where lora.blocks?.contains(blockIndex) ?? true {
            for target in lora.targets {
                guard let p = projections.firstIndex(where: { $0.target == target }) else { continue }
                let projection = projections[p]
                let a = offset
                offset += r * projection.inFeatures
                let b = offset
                offset += projection.outFeatures * r
                index[l][p] = slots.count
                slots.append(Slot(layer: l, blockIndex: blockIndex, target: target, inFeatures: projection.inFeatures,
                                  outFeatures: projection.outFeatures, a: a, b: b))
            }
        }
        self.slots = slots
        self.slotIndex = index
        self.count = offset
    }

    /// The adapter on projection `projection` (a position in `ModelConfig.projections`)
    /// of block `layer`, if it carries one.
    func slot(layer: Int, projection: Int) -> Slot? {
        slotIndex[layer][projection].map { slots[$0] }
    }
}

extension ModelConfig {
    /// Every tensor name and shape of an adapter with `lora` on this model, in the
    /// canonical `LoRAAdapter` order (A `[r, in]` before B `[out, r]`).
    public func adapterShapes(_ lora: LoRAConfig) -> [(name: String, shape: [Int])] {
        LoRALayout(config: self, lora: lora).slots.flatMap { entry in
            [(LoRAAdapter.tensorName(layer: entry.blockIndex, target: entry.target, isB: false), [lora.rank, entry.inFeatures]),
             (LoRAAdapter.tensorName(layer: entry.blockIndex, target: entry.target, isB: true), [entry.outFeatures, lora.rank])]
        }
    }
}
