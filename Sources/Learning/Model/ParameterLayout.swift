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
struct ParameterLayout {
    /// Offsets of one block's tensors.
    struct Block {
        var ln1Weight = 0, ln1Bias = 0
        var ln2Weight = 0, ln2Bias = 0
        /// Weight and bias offset of each projection, in `ModelConfig.projections` order
        /// (bias -1 when the projection has none).
        var weights: [Int] = []
        var biases: [Int] = []
        /// The block's tensors occupy `range` of the buffer, contiguously.
        var range: Range<Int> = 0..<0
    }

    let slots: [TensorSlot]
    let count: Int
    let wte: Int, wpe: Int, lnfWeight: Int, lnfBias: Int
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
        wte = offsets["wte.weight"]!
        wpe = offsets["wpe.weight"]!
        lnfWeight = offsets["ln_f.weight"]!
        lnfBias = offsets["ln_f.bias"]!
        blocks = (0..<config.layers).map { l in
            let p = "h.\(l)."
            var block = Block()
            block.ln1Weight = offsets[p + "ln_1.weight"]!
            block.ln1Bias = offsets[p + "ln_1.bias"]!
            block.ln2Weight = offsets[p + "ln_2.weight"]!
            block.ln2Bias = offsets[p + "ln_2.bias"]!
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
