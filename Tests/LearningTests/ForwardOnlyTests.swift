// The forward-only pass of evaluation and trust scoring against the training forward,
// for both families and every slot kind; candidates stacked along the rows against the
// same candidates run one by one.

import Foundation
import Testing

@testable import Learning

@Suite struct ForwardOnlyTests {
    /// A model of `config` with two LoRA slots (one with dropout, which evaluation must
    /// not apply) and a bottleneck slot, every value random so each branch matters.
    static func model(_ config: ModelConfig) throws -> TransformerModel {
        let output: LoRAConfig.Target = config.family == .gpt2 ? .attentionOutput : .output
        let model = try TransformerModel(
            config: config,
            slots: [AdapterSlotSpec(name: "global", lora: LoRAConfig(rank: 4, alpha: 8, dropout: 0.1)),
                    AdapterSlotSpec(name: "local", lora: LoRAConfig(rank: 2, alpha: 4, dropout: 0, targets: [output]))],
            seed: 71)
        try model.setAdapter(randomized(model.adapter(named: "global"), seed: 710), named: "global")
        try model.setAdapter(randomized(model.adapter(named: "local"), seed: 720), named: "local")
        let bottleneck = try model.addBottleneck(named: "adapter", width: 3)
        try bottleneck.set(bottleneck.tensors.enumerated().map { (k: Int, t: NamedTensor) -> NamedTensor in
            NamedTensor(name: t.name, shape: t.shape, values: testValues(t.count, seed: 730 + UInt64(k), scale: 0.2))
        })
        try model.setTrainable([.slot("global")])
        return model
    }

    static let families: [ModelConfig] = [.tiny, .llamaTiny]

    func batch(_ config: ModelConfig, B: Int, T: Int, seed: UInt64) -> TokenBatch {
        var targets = tokens(B * T, vocabulary: config.vocabularySize, seed: seed + 1)
        targets[3] = -1  // one padded position
        return TokenBatch(inputs: tokens(B * T, vocabulary: config.vocabularySize, seed: seed), targets: targets,
                          batchSize: B, sequenceLength: T)
    }

    func trainingForward(_ model: TransformerModel, _ b: TokenBatch) -> (loss: Float, logits: [Float]) {
        let loss = model.forward(inputs: b.inputs, targets: b.targets, batchSize: b.batchSize, sequenceLength: b.sequenceLength, training: false)!
        return (loss, model.withLogits { Array($0) })
    }

    @Test(arguments: families) func itsLogitsAndLossAreTheTrainingForwardsBitForBit(config: ModelConfig) throws {
        let model = try Self.model(config)
        let b = batch(config, B: 3, T: 16, seed: 800)
        let training = trainingForward(model, b)
        let loss = model.forwardOnly(inputs: b.inputs, targets: b.targets, batchSize: 3, sequenceLength: 16)!
        #expect(loss == training.loss)
        #expect(model.withLogits { Array($0) } == training.logits)
        #expect(model.targetCount == 3 * 16 - 1)
    }

    @Test(arguments: families) func itsMeanLossOverBatchesIsTheTrainingForwardsBitForBit(config: ModelConfig) throws {
        let model = try Self.model(config)
        // 5 · 64 = 320 rows: the logits are made in a run of 256 rows and one of 64.
        let batches = [batch(config, B: 5, T: 64, seed: 810), batch(config, B: 2, T: 64, seed: 820)]
        var total = 0.0, count = 0
        for b in batches {
            total += Double(trainingForward(model, b).loss) * Double(model.targetCount)
            count += model.targetCount
        }
        #expect(model.evaluateLoss(batches: batches) == Float(total / Double(count)))
    }

    @Test(arguments: families) func afterATrainingForwardItStillDropsNothing(config: ModelConfig) throws {
        let model = try Self.model(config)
        let b = batch(config, B: 3, T: 16, seed: 870)
        let evaluation = trainingForward(model, b)
        model.forward(inputs: b.inputs, targets: b.targets, batchSize: 3, sequenceLength: 16, training: true)
        #expect(model.forwardOnly(inputs: b.inputs, targets: b.targets, batchSize: 3, sequenceLength: 16) == evaluation.loss)
        #expect(model.withLogits { Array($0) } == evaluation.logits)
        model.forward(inputs: b.inputs, targets: b.targets, batchSize: 3, sequenceLength: 16, training: true)
        #expect(model.evaluateLoss(batches: [b]) == evaluation.loss)
    }

    @Test func aTrainingForwardAfterAForwardOnlyOneStillTrainsTheSame() throws {
        let model = try Self.model(.tiny), reference = try Self.model(.tiny)
        let b = batch(.tiny, B: 2, T: 8, seed: 830)
        model.forwardOnly(inputs: b.inputs, targets: b.targets, batchSize: 2, sequenceLength: 8)
        for m in [model, reference] {
            m.forward(inputs: b.inputs, targets: b.targets, batchSize: 2, sequenceLength: 8, training: true)
            m.zeroGradients()
            m.backward()
        }
        #expect(model.slots[0].gradients!.array == reference.slots[0].gradients!.array)
    }

    @Test func itKeepsOneBlocksActivationsWhateverTheDepth() throws {
        func forwardOnlyFloats(layers: Int) -> Int {
            let config = ModelConfig(layers: layers, heads: 2, channels: 32, maxSequenceLength: 64, vocabularySize: 256)
            let model = TransformerModel(config: config, lora: LoRAConfig(rank: 4), seed: 1)
            let b = batch(config, B: 2, T: 16, seed: 840)
            model.forwardOnly(inputs: b.inputs, targets: b.targets, batchSize: 2, sequenceLength: 16)
            return model.forwardOnlyActivations!.buffer.count
        }
        #expect(forwardOnlyFloats(layers: 2) == forwardOnlyFloats(layers: 6))
        let training = TransformerModel(config: .tiny, lora: LoRAConfig(rank: 4), seed: 1)
        let b = batch(.tiny, B: 2, T: 16, seed: 840)
        training.forward(inputs: b.inputs, targets: b.targets, batchSize: 2, sequenceLength: 16, training: false)
        #expect(training.activations!.buffer.count > forwardOnlyFloats(layers: 2))
    }

    /// Shapes whose logits over 32 rows are fewer floats than the blocks' (the first two)
    /// and more (the wide vocabularies).
    static let logitLayouts: [ModelConfig] = [
        .tiny, .llamaTiny,
        ModelConfig(layers: 2, heads: 2, channels: 32, maxSequenceLength: 64, vocabularySize: 4096),
        .llama(layers: 3, heads: 4, kvHeads: 2, channels: 48, mlpWidth: 128, maxSequenceLength: 64, vocabularySize: 4096),
    ]

    @Test(arguments: logitLayouts) func itsLogitsTakeTheFloatsItsBlocksUsed(config: ModelConfig) throws {
        // By hand: the embeddings (N,C), one block, LoRA h (N,r) shared by every projection;
        // then the final norm (N,C) with its mean (GPT-2) and rstd, the log-sum-exps and losses (N).
        let (B, T, r) = (2, 16, 4), N = B * T, C = config.channels, V = config.vocabularySize
        let model = TransformerModel(config: config, lora: LoRAConfig(rank: r), seed: 1)
        let b = batch(config, B: B, T: T, seed: 841)
        _ = model.forwardOnly(batch: b) { _, _ in }
        let acts = try #require(model.forwardOnlyActivations)
        let front = N * C + Activations.blockFloats(config: config, B: B, T: T) + N * r
        let tail = N * C + (config.family == .llama ? N : 2 * N) + 2 * N
        #expect(acts.logitRows == N)
        #expect(acts.logits == 0)
        #expect(acts.buffer.count == max(front, N * V) + tail)
        #expect((N * V > front) == (V == 4096))
    }

    // MARK: - Candidates stacked along the rows

    /// Candidate values for `slot`: the model's own, perturbed by a seeded draw.
    func candidates(_ model: TransformerModel, slot: String, count: Int) throws -> [[Float]] {
        let own = try model.slotValues(named: slot)
        return (0..<count).map { c in zip(own, testValues(own.count, seed: 900 + UInt64(c), scale: 0.2)).map { $0 + $1 } }
    }

    /// Each candidate put in the slot and run alone: (loss, logits).
    func oneByOne(_ model: TransformerModel, slot: String, _ candidates: [[Float]], _ b: TokenBatch) throws -> [(Float, [Float])] {
        try candidates.map { values in
            let adapter: [NamedTensor]
            if model.bottleneck(named: slot) != nil {
                var offset = 0
                adapter = model.bottleneck(named: slot)!.tensors.map { t in
                    defer { offset += t.count }
                    return NamedTensor(name: t.name, shape: t.shape, values: Array(values[offset..<(offset + t.count)]))
                }
                return try model.withBottleneck(adapter, named: slot) { try runAlone(model, b) }
            }
            var lora = try model.adapter(named: slot), offset = 0
            for i in lora.tensors.indices {
                lora.tensors[i].values = Array(values[offset..<(offset + lora.tensors[i].count)])
                offset += lora.tensors[i].count
            }
            return try model.withAdapter(lora, named: slot) { try runAlone(model, b) }
        }
    }

    func runAlone(_ model: TransformerModel, _ b: TokenBatch) throws -> (Float, [Float]) {
        let loss = model.forwardOnly(inputs: b.inputs, targets: b.targets, batchSize: b.batchSize, sequenceLength: b.sequenceLength)!
        return (loss, model.withLogits { Array($0) })
    }

    static let stackedCases: [(ModelConfig, String)] = [(.tiny, "global"), (.tiny, "adapter"), (.llamaTiny, "global"), (.llamaTiny, "adapter")]

    /// Stacked rows change the height of every base product, which OpenBLAS may sum in
    /// another order: the mean loss agrees to 1e-6 relative, each logit to 1e-5 of
    /// max(|logit|, 1), float rounding carried through every block (measured: 1.2e-6
    /// at most, Llama).
    @Test(arguments: stackedCases) func stackedCandidatesScoreAsEachAlone(config: ModelConfig, slot: String) throws {
        let model = try Self.model(config)
        let b = batch(config, B: 2, T: 16, seed: 850)
        let values = try candidates(model, slot: slot, count: 5)
        let alone = try oneByOne(model, slot: slot, values, b)
        let own = try model.slotValues(named: slot)
        var logits = [[Float]](repeating: [], count: values.count)
        // 2 candidates per pass (64 rows of 32): passes of 2, 2 and 1.
        let losses = try model.forEachCandidate(values, inSlot: slot, batch: b, stackedRows: 64) { c, rows, chunk in
            #expect(rows.lowerBound == logits[c].count / config.vocabularySize)
            logits[c] += chunk
        }
        #expect(try model.slotValues(named: slot) == own, "the slot keeps its own values")
        for (c, (loss, expected)) in alone.enumerated() {
            #expect(abs(losses[c] - loss) <= 1e-6 * abs(loss), "candidate \(c): \(losses[c]) alone \(loss)")
            #expect(logits[c].count == expected.count)
            let worst = zip(logits[c], expected).map { abs($0 - $1) / max(abs($1), 1) }.max()!
            #expect(worst <= 1e-5, "candidate \(c): logits differ by \(worst)")
        }
        // The candidates differ, so each row group really carried its own values.
        #expect(Set(losses).count == values.count)
    }

    /// Candidates handed over lazily are asked for pass by pass, each once per batch,
    /// and score as the same candidates given all at once; a provider's error stops the
    /// run at the pass that asked.
    @Test func lazyCandidatesAreReadOnlyWhenTheirPassRuns() throws {
        let model = try Self.model(.tiny)
        let b = batch(.tiny, B: 2, T: 16, seed: 855)
        let values = try candidates(model, slot: "global", count: 5)
        let together = try model.forEachCandidate(values, inSlot: "global", batch: b, stackedRows: 64)
        var asked: [Int] = [], passes: [[Int]] = []
        let lazy = try model.forEachCandidate(count: 5, inSlot: "global", batch: b, stackedRows: 64, values: { c in
            asked.append(c)
            return values[c]
        }) { c, _, _ in
            // The logits of a pass come after all of that pass's candidates were read.
            if passes.last?.contains(c) != true { passes.append(asked.filter { !passes.joined().contains($0) }) }
        }
        #expect(lazy == together)
        #expect(asked == [0, 1, 2, 3, 4])
        #expect(passes == [[0, 1], [2, 3], [4]])
        struct Unreadable: Error, Equatable {}
        var read = 0
        #expect(throws: Unreadable()) {
            try model.forEachCandidate(count: 5, inSlot: "global", batch: b, stackedRows: 64, values: { c in
                if c == 2 { throw Unreadable() }
                read += 1
                return values[c]
            })
        }
        #expect(read == 2, "the first pass ran and the second stopped at its first candidate")
        #expect(try model.forEachCandidate(count: 0, inSlot: "global", batch: b, values: { _ in [] }) == [])
    }

    @Test func aCandidateOfTheWrongSizeIsRefused() throws {
        let model = try Self.model(.tiny)
        let b = batch(.tiny, B: 1, T: 4, seed: 860)
        #expect(throws: ModelError.adapterMismatch("a candidate for slot global holds 3 values, expected \(try model.slotValues(named: "global").count)")) {
            try model.forEachCandidate([[1, 2, 3]], inSlot: "global", batch: b)
        }
        #expect(throws: ModelError.noSlot("nowhere")) { try model.forEachCandidate([], inSlot: "nowhere", batch: b) }
    }
}
