// Training passes that keep only each block's output and recompute the rest in
// backward: the same loss and gradients as keeping everything, bit for bit, in a
// buffer smaller by exactly the shared blocks' tensors; and the training and
// forward-only buffers never held at once.

import Foundation
import Testing

@testable import Learning

@Suite struct BlockRecomputeTests {
    /// Three blocks, so two are recomputed; LoRA with dropout on every projection. The
    /// last two have vocabularies wide enough for the backward scratch to live in the
    /// logits' floats, as at GPT-2's and Llama's shapes; the first two do not.
    static let configs: [ModelConfig] = [
        ModelConfig(layers: 3, heads: 2, channels: 32, maxSequenceLength: 64, vocabularySize: 256),
        .llamaTiny,
        ModelConfig(layers: 3, heads: 2, channels: 16, maxSequenceLength: 64, vocabularySize: 1024),
        .llama(layers: 3, heads: 4, kvHeads: 2, channels: 48, mlpWidth: 128, maxSequenceLength: 64, vocabularySize: 4096),
    ]

    /// Floats of the backward scratch a recomputing pass may keep in its logits (B·T = N
    /// rows, LoRA rank r): dStream2, dBranch and dAtty (N,C) each, dQKV, dFCH (N,H), Llama's
    /// dUp, LoRA's dropped-out input (N,max(C,H)) and dh (N,r); each a multiple of 16 here.
    static func sharedScratchFloats(_ config: ModelConfig, N: Int, r: Int) -> Int {
        let C = config.channels, H = config.mlpWidth
        return 3 * N * C + N * (C + 2 * config.kvChannels) + N * H + (config.family == .llama ? N * H : 0) + N * max(C, H) + N * r
    }

    func model(_ config: ModelConfig, recompute: Bool) -> TransformerModel {
        let model = TransformerModel(config: config, lora: LoRAConfig(rank: 4, alpha: 8, dropout: 0.1), seed: 5)
        // No bytes to spare recomputes; no budget keeps everything.
        model.activationBudgetBytes = recompute ? 0 : nil
        return model
    }

    @Test(arguments: configs)
    func itGivesTheKeptPassesGradientsBitForBit(config: ModelConfig) throws {
        let (B, T) = (2, 16)
        let inputs = tokens(B * T, vocabulary: config.vocabularySize, seed: 61)
        var targets = tokens(B * T, vocabulary: config.vocabularySize, seed: 62)
        targets[5] = -1
        var gradients: [[Float]] = [], losses: [Float] = []
        for recompute in [false, true] {
            let m = model(config, recompute: recompute)
            // Non-zero B, so every branch and its dropout mask shapes the gradients.
            try m.setAdapter(randomized(m.adapter(named: TransformerModel.defaultSlot), seed: 63), named: TransformerModel.defaultSlot)
            m.zeroGradients()
            for _ in 0..<2 {  // two steps' forwards: fresh dropout masks each time
                losses.append(m.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, training: true)!)
                m.backward(lossScale: 0.5)
            }
            #expect(m.activations!.recomputesBlocks == recompute)
            #expect(m.activations!.backwardScratchInLogits
                == (recompute && Self.sharedScratchFloats(config, N: B * T, r: 4) <= B * T * config.vocabularySize))
            gradients.append(m.slots[0].gradients!.array)
        }
        #expect(losses[0...1] == losses[2...3])
        #expect(gradients[0] == gradients[1])
        #expect(gradients[0].contains { $0 != 0 })
    }

    @Test(arguments: configs)
    func itRemakesTheLogitsRunByRunWithTheKeptPassesGradients(config: ModelConfig) throws {
        let (B, T) = (2, 16)
        let inputs = tokens(B * T, vocabulary: config.vocabularySize, seed: 66)
        var targets = tokens(B * T, vocabulary: config.vocabularySize, seed: 67)
        targets[20] = -1
        let weights = testValues(B * T, seed: 68)
        var gradients: [[Float]] = [], losses: [Float] = []
        for recompute in [false, true] {
            let m = model(config, recompute: recompute)
            m.logitFloatBudget = 16 * config.vocabularySize  // runs of 16 rows: two per batch
            try m.setAdapter(randomized(m.adapter(named: TransformerModel.defaultSlot), seed: 69), named: TransformerModel.defaultSlot)
            m.zeroGradients()
            losses.append(m.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, training: true)!)
            #expect(m.activations!.logitRows == (recompute ? 16 : B * T))
            #expect(m.activations!.backwardScratchInLogits
                == (recompute && Self.sharedScratchFloats(config, N: B * T, r: 4) <= 16 * config.vocabularySize))
            m.backward(lossScale: 0.5)
            // Per-token weights, as a policy gradient gives them.
            m.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, training: true)
            m.backward(lossScale: 0.25, rowWeights: weights)
            gradients.append(m.slots[0].gradients!.array)
        }
        #expect(losses[0] == losses[1])
        // The output products run 16 rows at a time instead of 32: equal to rounding.
        let scale = gradients[0].map(abs).max()!
        #expect(zip(gradients[0], gradients[1]).allSatisfy { abs($0 - $1) <= 1e-6 * scale })
        #expect(scale > 0)
    }

    @Test(arguments: configs)
    func itKeepsOnlyEachBlocksOutputBeyondTheFirst(config: ModelConfig) {
        let (B, T) = (2, 16), N = B * T
        var floats: [Bool: Int] = [:], targeted = 0, sharesLogits = false
        for recompute in [false, true] {
            let m = model(config, recompute: recompute)
            targeted = m.slots[0].layout.slots.count / config.layers
            m.forward(inputs: tokens(N, vocabulary: config.vocabularySize, seed: 64), targets: nil, batchSize: B, sequenceLength: T,
                      training: false)
            floats[recompute] = m.activations!.floatCount
            if recompute { sharesLogits = m.activations!.backwardScratchInLogits }
        }
        // By hand: a block's tensors at C channels, MLP width H, heads NH (each size a multiple of 16 here).
        let C = config.channels, H = config.mlpWidth, NH = config.heads, KC = config.kvChannels
        let block = config.family == .gpt2
            ? 7 * N * C + 4 * N + N * 3 * C + 2 * N * H + B * NH * T * T  // ln1 … residual3, two means and rstds, qkv, fch and GELU
            : 7 * N * C + 2 * N + N * (C + 2 * KC) + 3 * N * H + B * NH * T * T  // two rstds, q k v, gate, up and SwiGLU
        #expect(Activations.blockFloats(config: config, B: B, T: T) == block)
        // Each shared block gives up all but its output, and its LoRA h (N,r) on every
        // projection; where it fits, the backward scratch after dStream and dLN takes none.
        let r = 4, scratch = Self.sharedScratchFloats(config, N: N, r: r)
        #expect(targeted >= 4)
        #expect(sharesLogits == (scratch <= N * config.vocabularySize))
        #expect(floats[false]! - floats[true]! == (config.layers - 1) * (block - N * C + targeted * N * r) + (sharesLogits ? scratch : 0))
    }

    @Test func theTrainingAndForwardOnlyBuffersAreNeverHeldAtOnce() {
        let config = ModelConfig.tiny, (B, T) = (2, 16)
        let m = model(config, recompute: true)
        let inputs = tokens(B * T, vocabulary: config.vocabularySize, seed: 65)
        m.forward(inputs: inputs, targets: inputs, batchSize: B, sequenceLength: T, training: true)
        #expect(m.activations != nil && m.forwardOnlyActivations == nil)
        m.forwardOnly(inputs: inputs, targets: inputs, batchSize: B, sequenceLength: T)
        #expect(m.activations == nil && m.lastActivations === m.forwardOnlyActivations)
        m.forward(inputs: inputs, targets: inputs, batchSize: B, sequenceLength: T, training: true)
        #expect(m.forwardOnlyActivations == nil && m.lastActivations === m.activations)
    }

    @Test func itRecomputesOnlyWhenKeepingEverythingWouldPassTheBudget() throws {
        // GPT-2 124M at batch 4 × 64: 12 blocks of 3.7 M floats and 256 rows of 50,257 logits.
        let gpt2 = TransformerModel(config: .gpt2Small, lora: LoRAConfig(rank: 4), seed: 1)
        #expect(Activations.blockFloats(config: .gpt2Small, B: 4, T: 64) == 3_736_576)
        #expect(gpt2.keptActivationBytes(B: 4, T: 64) == 4 * (12 * 3_736_576 + 256 * 50_257))
        // A quarter of its 124,439,808 parameters' 4 bytes: 124,439,808 bytes.
        let quarter = gpt2.activationBudget(fractionOfWeights: 0.25)
        #expect(quarter == 124_439_808)
        #expect(!gpt2.recomputesBlocks(B: 4, T: 64))  // no budget: everything is kept
        gpt2.activationBudgetBytes = quarter
        #expect(gpt2.recomputesBlocks(B: 4, T: 64))  // 231 MB
        #expect(!gpt2.recomputesBlocks(B: 1, T: 64))  // 12 × 934,144 floats and 64 rows: 58 MB
        // The budget never falls below 64 MiB.
        #expect(gpt2.activationBudget(fractionOfWeights: 0) == 64 << 20)
        // Whole-base training keeps every block's tensors whatever the budget.
        try gpt2.setTrainable([.base])
        gpt2.activationBudgetBytes = 0
        #expect(!gpt2.recomputesBlocks(B: 4, T: 64))
    }
}
