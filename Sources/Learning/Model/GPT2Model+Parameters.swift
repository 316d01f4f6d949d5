// Moving parameters and adapters in and out of a GPT2Model by name.

extension GPT2Model {
    /// Every base parameter as a copy, with Hugging Face GPT-2 names and shapes
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
    /// - Throws: `GPT2Error.missingTensor` or `GPT2Error.shapeMismatch`, naming the tensor.
    public func loadParameters(_ tensors: [String: NamedTensor]) throws {
        var found: [(TensorSlot, NamedTensor)] = []
        for slot in parameterLayout.slots {
            guard let tensor = tensors[slot.name] ?? tensors["transformer." + slot.name] else {
                throw GPT2Error.missingTensor(name: slot.name)
            }
            guard tensor.shape == slot.shape else {
                throw GPT2Error.shapeMismatch(name: slot.name, expected: slot.shape, found: tensor.shape)
            }
            found.append((slot, tensor))
        }
        for (slot, tensor) in found {
            tensor.values.withUnsafeBufferPointer { parameters[slot.offset].update(from: $0.baseAddress!, count: slot.count) }
        }
    }

    /// A copy of the LoRA adapter in the PEFT layout and canonical order.
    /// - Precondition: the model is in `.lora` mode.
    public func adapter() -> LoRAAdapter {
        guard let lora = loraConfig, let layout = loraLayout, let values = loraParameters else {
            preconditionFailure("adapter() on a model without LoRA")
        }
        var tensors: [NamedTensor] = []
        for slot in layout.slots {
            let aCount = lora.rank * slot.inFeatures, bCount = slot.outFeatures * lora.rank
            tensors.append(NamedTensor(
                name: LoRAAdapter.tensorName(layer: slot.layer, target: slot.target, isB: false),
                shape: [lora.rank, slot.inFeatures],
                values: Array(UnsafeBufferPointer(start: values[slot.a], count: aCount))))
            tensors.append(NamedTensor(
                name: LoRAAdapter.tensorName(layer: slot.layer, target: slot.target, isB: true),
                shape: [slot.outFeatures, lora.rank],
                values: Array(UnsafeBufferPointer(start: values[slot.b], count: bCount))))
        }
        return LoRAAdapter(config: lora, tensors: tensors)
    }

    /// Copies `adapter`'s A and B values into the model's LoRA buffers in place (the
    /// base weights and every buffer stay where they are).
    /// - Throws: `GPT2Error.noAdapter` in `.full` mode; `GPT2Error.adapterMismatch` when
    ///   the rank, alpha, targets, names or shapes differ from the model's.
    public func setAdapter(_ adapter: LoRAAdapter) throws {
        guard let lora = loraConfig, let values = loraParameters else { throw GPT2Error.noAdapter }
        guard adapter.config.rank == lora.rank else {
            throw GPT2Error.adapterMismatch("rank \(adapter.config.rank), expected \(lora.rank)")
        }
        guard adapter.config.alpha == lora.alpha else {
            throw GPT2Error.adapterMismatch("alpha \(adapter.config.alpha), expected \(lora.alpha)")
        }
        guard adapter.config.targets == lora.targets else {
            throw GPT2Error.adapterMismatch("targets \(adapter.config.targets.map(\.rawValue)), expected \(lora.targets.map(\.rawValue))")
        }
        let expected = self.adapter()
        guard adapter.tensors.count == expected.tensors.count else {
            throw GPT2Error.adapterMismatch("\(adapter.tensors.count) tensors, expected \(expected.tensors.count)")
        }
        for (given, wanted) in zip(adapter.tensors, expected.tensors) {
            guard given.name == wanted.name else {
                throw GPT2Error.adapterMismatch("tensor \(given.name) where \(wanted.name) belongs")
            }
            guard given.shape == wanted.shape else {
                throw GPT2Error.adapterMismatch("tensor \(given.name) has shape \(given.shape), expected \(wanted.shape)")
            }
        }
        var offset = 0
        for tensor in adapter.tensors {
            tensor.values.withUnsafeBufferPointer { values[offset].update(from: $0.baseAddress!, count: tensor.count) }
            offset += tensor.count
        }
    }
}
