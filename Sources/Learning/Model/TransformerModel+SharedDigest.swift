// The digest of the part of a base that an emulator and the full model it was cut
// from hold alike: the widths, the embeddings, the final norm and every block outside
// the emulated middle, named by full-model index. A FedBiOT client (emulator) and the
// aligner (full model) name the same base by it, while any other base differs.

extension TransformerModel {
    /// FNV-1a over the shapes and the values of every parameter outside the blocks
    /// `middle` (by `ModelConfig.blocks` index), in the order of full-model names.
    public func baseDigest(outside middle: [Int]) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ word: UInt32) {
            hash ^= UInt64(word)
            hash &*= 0x0000_0100_0000_01B3
        }
        for value in [config.channels, config.heads, config.kvHeads, config.mlpWidth, config.maxSequenceLength, config.vocabularySize] {
            mix(UInt32(truncatingIfNeeded: value))
        }
        mix(config.normEpsilon.bitPattern)
        if config.family == .llama {
            mix(config.ropeTheta!.bitPattern)
            mix((config.tiedEmbeddings ? 1 : 0) | (config.qkvBias ? 2 : 0) | 4)
        }
        let skipped = Set(middle)
        var named: [(name: String, slot: TensorSlot)] = []
        for slot in parameterLayout.slots {
            var name = slot.name
            if let l = (0..<config.layers).first(where: { slot.name.hasPrefix(config.blockPrefix($0)) }) {
                guard !skipped.contains(config.blocks[l]) else { continue }
                name = config.blockPrefix(config.blocks[l]) + slot.name.dropFirst(config.blockPrefix(l).count)
            }
            named.append((name, slot))
        }
        let words = UnsafeRawPointer(parameters.pointer).assumingMemoryBound(to: UInt32.self)
        for (name, slot) in named.sorted(by: { $0.name < $1.name }) {
            for byte in name.utf8 { mix(UInt32(byte)) }
            for d in slot.shape { mix(UInt32(truncatingIfNeeded: d)) }
            for i in slot.offset..<(slot.offset + slot.count) { mix(words[i]) }
        }
        return String(hash, radix: 16).leftPadded(to: 16)
    }
}
