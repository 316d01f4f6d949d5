// Moving parameters and adapters in and out of a TransformerModel by name.

extension TransformerModel {
    /// Every base parameter as a copy, with Hugging Face names and shapes
    /// (`wte.weight` [V,C], `h.0.attn.c_attn.weight` [C,3C], …, `ln_f.bias` [C]).
    public func namedParameters() -> [NamedTensor] {
        parameterLayout.slots.map { slot in
            NamedTensor(name: slot.name, shape: slot.shape,
                        values: Array(UnsafeBufferPointer(start: parameters[slot.offset], count: slot.count)))
        }
    }

    /// Replaces every base parameter with the tensor of the same name in `tensors`
    /// (keys may carry Hugging Face's `transformer.` prefix; other entries, such as
    /// `lm_head.weight` or attention mask buffers, are ignored). Nothing changes unless
    /// every tensor is present with the right shape.
    /// - Throws: `ModelError.missingTensor` or `ModelError.shapeMismatch`, naming the tensor.
    public func loadParameters(_ tensors: [String: NamedTensor]) throws(ModelError) {
        var found: [(TensorSlot, NamedTensor)] = []
        for slot in parameterLayout.slots {
            guard let tensor = tensors[slot.name] ?? tensors["transformer." + slot.name] else {
                throw ModelError.missingTensor(name: slot.name)
            }
            guard tensor.shape == slot.shape else {
                throw ModelError.shapeMismatch(name: slot.name, expected: slot.shape, found: tensor.shape)
            }
            found.append((slot, tensor))
        }
        for (slot, tensor) in found {
            tensor.values.withUnsafeBufferPointer { parameters[slot.offset].update(from: $0.baseAddress!, count: slot.count) }
        }
    }

    /// A copy of slot `name` in the PEFT layout and canonical order; block numbers in
    /// the names are block indices (`ModelConfig.blocks`).
    /// - Throws: `ModelError.noSlot`.
    public func adapter(named name: String) throws(ModelError) -> LoRAAdapter {
        guard let slot = slot(named: name) else { throw .noSlot(name) }
        return adapter(of: slot)
    }

    /// The model's only adapter slot.
    /// - Precondition: the model has exactly one slot.
    public func adapter() -> LoRAAdapter {
        precondition(slots.count == 1, "adapter() on a model with \(slots.count) slots; name one")
        return adapter(of: slots[0])
    }

    /// Copies `adapter` into the model's only slot (see `setAdapter(_:named:)`).
    public func setAdapter(_ adapter: LoRAAdapter) throws(ModelError) {
        guard slots.count == 1 else { throw slots.isEmpty ? .noSlot(Self.defaultSlot) : .adapterMismatch("the model has \(slots.count) slots; name one") }
        try setAdapter(adapter, named: slots[0].name)
    }

    private func adapter(of slot: AdapterSlot) -> LoRAAdapter {
        let lora = slot.lora, values = slot.values
        var tensors: [NamedTensor] = []
        tensors.reserveCapacity(2 * slot.layout.slots.count)
        for entry in slot.layout.slots {
            let aCount = lora.rank * entry.inFeatures, bCount = entry.outFeatures * lora.rank
            tensors.append(NamedTensor(
                name: LoRAAdapter.tensorName(layer: entry.blockIndex, target: entry.target, isB: false),
                shape: [lora.rank, entry.inFeatures],
                values: Array(UnsafeBufferPointer(start: values[entry.a], count: aCount))))
            tensors.append(NamedTensor(
                name: LoRAAdapter.tensorName(layer: entry.blockIndex, target: entry.target, isB: true),
                shape: [entry.outFeatures, lora.rank],
                values: Array(UnsafeBufferPointer(start: values[entry.b], count: bCount))))
        }
        return LoRAAdapter(config: lora, tensors: tensors)
    }

    /// Checks that `adapter` fits slot `slot` exactly (rank, alpha, targets, names,
    /// shapes), against the slot's layout, without building a copy of the slot.
    func check(_ adapter: LoRAAdapter, fits slot: AdapterSlot) throws(ModelError) {
        let lora = slot.lora
        guard adapter.config.rank == lora.rank else {
            throw .adapterMismatch("rank \(adapter.config.rank), expected \(lora.rank)")
        }
        guard adapter.config.alpha == lora.alpha else {
            throw .adapterMismatch("alpha \(adapter.config.alpha), expected \(lora.alpha)")
        }
        guard adapter.config.targets == lora.targets else {
            throw .adapterMismatch("targets \(adapter.config.targets.map(\.rawValue)), expected \(lora.targets.map(\.rawValue))")
        }
        guard adapter.tensors.count == 2 * slot.layout.slots.count else {
            throw .adapterMismatch("\(adapter.tensors.count) tensors, expected \(2 * slot.layout.slots.count)")
        }
        for (i, entry) in slot.layout.slots.enumerated() {
            for isB in [false, true] {
                let given = adapter.tensors[2 * i + (isB ? 1 : 0)]
                let name = LoRAAdapter.tensorName(layer: entry.blockIndex, target: entry.target, isB: isB)
                let shape = isB ? [entry.outFeatures, lora.rank] : [lora.rank, entry.inFeatures]
                guard given.name == name else { throw .adapterMismatch("tensor \(given.name) where \(name) belongs") }
                guard given.shape == shape else { throw .adapterMismatch("tensor \(given.name) has shape \(given.shape), expected \(shape)") }
            }
        }
    }

    /// Copies `adapter`'s A and B values into slot `name` in place (the base weights
    /// and every buffer stay where they are).
    /// - Throws: `ModelError.noSlot`; `ModelError.adapterMismatch` when the rank,
    ///   alpha, targets, names or shapes differ from the slot's.
    public func setAdapter(_ adapter: LoRAAdapter, named name: String) throws(ModelError) {
        guard let slot = slot(named: name) else { throw .noSlot(name) }
        try check(adapter, fits: slot)
        var offset = 0
        for tensor in adapter.tensors {
            tensor.values.withUnsafeBufferPointer { slot.values[offset].update(from: $0.baseAddress!, count: tensor.count) }
            offset += tensor.count
        }
    }
}

extension TransformerModel {
    /// Runs `body` with `adapter` in slot `name` and puts the slot's own values back
    /// afterwards, whatever `body` does: evaluating a peer's adapter never leaves it
    /// in the model.
    public func withAdapter<R>(_ adapter: LoRAAdapter, named name: String, _ body: () throws -> R) throws -> R {
        guard let slot = slot(named: name) else { throw ModelError.noSlot(name) }
        try check(adapter, fits: slot)
        let saved = slot.values.array
        defer { slot.values.copy(from: saved) }
        try setAdapter(adapter, named: name)
        return try body()
    }

    /// A digest of the base: its configuration and every parameter's bits (64-bit
    /// FNV-1a over 32-bit words, as 16 hex digits). Two nodes agree on it exactly
    /// when they hold the same base, so an update names the base it was trained on.
    public func baseDigest() -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ word: UInt32) {
            hash ^= UInt64(word)
            hash &*= 0x0000_0100_0000_01B3
        }
        for value in [config.layers, config.channels, config.heads, config.kvHeads, config.mlpWidth, config.maxSequenceLength, config.vocabularySize] + config.blocks {
            mix(UInt32(truncatingIfNeeded: value))
        }
        mix(config.normEpsilon.bitPattern)
        if config.family == .llama {
            mix(config.ropeTheta!.bitPattern)
            mix((config.tiedEmbeddings ? 1 : 0) | (config.qkvBias ? 2 : 0) | 4)
        }
        let words = UnsafeRawPointer(parameters.pointer).assumingMemoryBound(to: UInt32.self)
        for i in 0..<parameters.count { mix(words[i]) }
        return String(hash, radix: 16).leftPadded(to: 16)
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
