import Foundation
import Gossip
import Learning
import Schemes
import Testing

/// FedBiOT rounds in one process: clients that hold only the emulator train their
/// adapter; the aligner aggregates, aligns the emulator on public text and sends it
/// back in signed chunks that only the aligner may send.
@Suite struct FedBiOTRunTests {
    static let full = ModelConfig(layers: 6, heads: 2, channels: 16, maxSequenceLength: 16, vocabularySize: 32)
    static let T = 16

    /// Text over 32 symbols: x → (a x + c + noise) mod 32, a different rule per source.
    static func text(a: Int, c: Int, count: Int, seed: UInt64) -> TextDataset {
        var random = SeededGenerator(seed: seed)
        var x = 1, tokens: [Int32] = []
        for _ in 0..<count {
            tokens.append(Int32(x))
            let noise = Int(random.uniform(below: 2))
            x = (a * x + c + noise) % 32
        }
        return TextDataset(tokens: tokens)
    }

    static func splits(_ data: TextDataset) throws -> DatasetSplits {
        try data.split(fractions: SplitFractions(train: 0.8, trust: 0.1, test: 0.1), sequenceLength: T, seed: 1)
    }

    /// A full model trained a little on the public text.
    static func pretrained() throws -> [String: NamedTensor] {
        let model = TransformerModel(config: full, lora: nil, seed: 5)
        let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 1e-2, totalSteps: 60))
        var sampler = try splits(text(a: 5, c: 3, count: 6000, seed: 1)).train.sampler(batchSize: 4, seed: 2)
        for _ in 0..<60 { trainer.trainStep([sampler.next()]) }
        return Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0) })
    }

    final class Client {
        let scheme: FedBiOT
        let model: TransformerModel
        let trainer: Trainer
        let keys: SigningKeyPair
        let assembler: EmulatorAssembler
        var sampler: BatchSampler
        let test: [TokenBatch]

        init(emulator: EmulatorModel, settings: SchemeSettings, fedbiot: FedBiOTSettings, data: TextDataset, aligner: PublicKey, folder: String) throws {
            scheme = FedBiOT(settings: settings, fedbiot: fedbiot, plan: emulator.plan)
            model = try TransformerModel(config: emulator.config, slots: scheme.slots, seed: 7, parameters: emulator.parameters)
            try model.setTrainable([.slot(FedBiOT.slot)])
            trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 1e-2, totalSteps: 100, warmupFraction: 0, floor: 1e-2))
            scheme.installProximalTerm(on: trainer)
            keys = try SigningKeyPair()
            assembler = try EmulatorAssembler(directory: folder, aligner: aligner)
            let parts = try FedBiOTRunTests.splits(data)
            sampler = try parts.train.sampler(batchSize: 4, seed: 3)
            test = Array(parts.test.sequentialBatches(batchSize: 4))
        }

        /// K steps of cross-entropy + the proximal term; the adapter it publishes.
        func train(round: Int) throws -> LoRAAdapter {
            try scheme.beginRound(round: round, model: model)
            for phase in scheme.phases(round: round) {
                try model.setTrainable(phase.trains)
                for _ in 0..<phase.steps { trainer.trainStep([sampler.next()]) }
            }
            return try scheme.published(model: model)
        }
    }

    @Test func clientsOnTheEmulatorLearnAndTheAlignerKeepsTheEmulatorAligned() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fedbiot-run-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var fedbiot = FedBiOTSettings()
        fedbiot.adapterBlocks = 1
        fedbiot.dropRatio = 0.5
        fedbiot.alignSteps = 8
        fedbiot.alignLearningRate = 3e-3
        fedbiot.proximal = 0.01
        let settings = SchemeSettings(lora: LoRAConfig(rank: 2, alpha: 4, dropout: 0), localSteps: 15, warmupRounds: 0)
        let plan = try EmulatorPlan(fullLayers: 6, adapterBlocks: 1, dropRatio: 0.5, layout: .fedbiot)
        let tensors = try Self.pretrained()
        let cut = try EmulatorModel(full: Self.full, parameters: tensors, plan: plan)

        // The aligner: the full model, its own copy of the emulator, the public text.
        let alignerKeys = try SigningKeyPair()
        let schemeSlots = FedBiOT(settings: settings, fedbiot: fedbiot, plan: plan).slots
        let fullModel = try TransformerModel(config: Self.full, slots: schemeSlots, seed: 7, parameters: tensors)
        let alignerEmulator = try TransformerModel(config: cut.config, slots: schemeSlots, seed: 7, parameters: cut.parameters)
        let publicParts = try Self.splits(Self.text(a: 5, c: 3, count: 6000, seed: 11))
        let aligner = try FedBiOTAligner(full: fullModel, emulator: alignerEmulator, plan: plan, fedbiot: fedbiot,
                                         publicText: try publicParts.train.sampler(batchSize: 4, seed: 4))
        let heldOutPublic = Array(publicParts.test.sequentialBatches(batchSize: 4).prefix(4))

        // Two clients: only the emulator's tensors ever reach them.
        let clients = try [(7, 1), (3, 5)].enumerated().map { k, rule in
            try Client(emulator: cut, settings: settings, fedbiot: fedbiot, data: Self.text(a: rule.0, c: rule.1, count: 6000, seed: UInt64(20 + k)),
                       aligner: alignerKeys.publicKey, folder: folder + "/client\(k)")
        }
        #expect(clients.allSatisfy { $0.model.config.blocks == [0, 4, 5] && $0.model.parameterCount < fullModel.parameterCount })
        let before = clients.map { Double($0.model.evaluateLoss(batches: $0.test)) }
        let alignmentBefore = aligner.alignment.evaluate(heldOutPublic)

        for round in 1...3 {
            let adapters = try clients.map { try $0.train(round: round) }
            let output = try aligner.round(round, adapters: adapters)
            let emulator = try #require(output.emulator)
            let chunks = try EmulatorChunk.split(emulator, version: UInt64(round), maxPayloadBytes: 4_096, keys: alignerKeys)
            #expect(chunks.count > 1 && chunks.allSatisfy { $0.count <= 4_096 })
            for client in clients {
                // A client posing as the aligner is refused, and counted.
                let forged = try EmulatorChunk.split(emulator, version: UInt64(round), maxPayloadBytes: 4_096, keys: clients[0].keys)
                #expect(client.assembler.receive(forged[0]) == .refused(.notAligner))
                var assembled: [UInt8]?
                for chunk in chunks { if case .complete(_, let file) = client.assembler.receive(chunk) { assembled = file } }
                #expect(try EmulatorUpdate.apply(try #require(assembled), to: client.model, plan: plan) == UInt64(round))
                try client.scheme.takeIn(aggregate: output.adapter, model: client.model, round: round)
                #expect(try client.model.adapter(named: FedBiOT.slot) == output.adapter)
                #expect(try client.model.blockParameters(plan.keptBlocks) == alignerEmulator.blockParameters(plan.keptBlocks))
            }
        }
        #expect(clients.allSatisfy { $0.assembler.refusals == [.notAligner: 3] })

        let after = clients.map { Double($0.model.evaluateLoss(batches: $0.test)) }
        let alignmentAfter = aligner.alignment.evaluate(heldOutPublic)
        // AdapEmu (the adapter on the emulator, as a client serves it) and AdapFu (on the full model).
        let adapFu = clients.map { Double(fullModel.evaluateLoss(batches: $0.test)) }
        print("fedbiot in-process: AdapEmu \(before) → \(after), AdapFu \(adapFu), alignment \(alignmentBefore.total) → \(alignmentAfter.total)")
        for k in clients.indices { #expect(after[k] < before[k] - 0.1, "client \(k): \(before[k]) → \(after[k])") }
        #expect(alignmentAfter.total < alignmentBefore.total)
    }

    @Test func theProximalTermKeepsTheAdapterNearTheRoundStart() throws {
        let plan = try EmulatorPlan(fullLayers: 6, adapterBlocks: 1, dropRatio: 0.5, layout: .fedbiot)
        let cut = try EmulatorModel(full: Self.full, parameters: try Self.pretrained(), plan: plan)
        let settings = SchemeSettings(lora: LoRAConfig(rank: 2, alpha: 4, dropout: 0), localSteps: 20, warmupRounds: 0)
        func drift(epsilon: Double) throws -> Double {
            var fedbiot = FedBiOTSettings()
            fedbiot.proximal = epsilon
            let client = try Client(emulator: cut, settings: settings, fedbiot: fedbiot, data: Self.text(a: 7, c: 1, count: 6000, seed: 3),
                                    aligner: try SigningKeyPair().publicKey, folder: FileManager.default.temporaryDirectory.appendingPathComponent("fedbiot-\(UUID())").path)
            defer { try? FileManager.default.removeItem(atPath: client.assembler.directory) }
            _ = try client.train(round: 1)
            let anchor = try #require(client.scheme.anchor)
            return Double(try client.model.addProximalGradient(slot: FedBiOT.slot, anchor: anchor, epsilon: 1))
        }
        let free = try drift(epsilon: 0), held = try drift(epsilon: 50)
        #expect(free > 0)
        #expect(held < 0.5 * free, "merged-update drift \(held) with ε = 50 vs \(free) without")
    }

    @Test func anEmulatorUpdateForOtherBlocksIsRefused() throws {
        let plan = try EmulatorPlan(fullLayers: 6, adapterBlocks: 1, dropRatio: 0.5, layout: .fedbiot)
        let other = try EmulatorPlan(fullLayers: 6, adapterBlocks: 1, dropRatio: 0.2, layout: .fedbiot)
        let tensors = try Self.pretrained()
        let mine = try EmulatorModel(full: Self.full, parameters: tensors, plan: plan)
        let theirs = try EmulatorModel(full: Self.full, parameters: tensors, plan: other)
        let model = try TransformerModel(config: mine.config, lora: nil, seed: 1, parameters: mine.parameters)
        let foreign = try TransformerModel(config: theirs.config, lora: nil, seed: 1, parameters: theirs.parameters)
        let bytes = try EmulatorUpdate.encode(foreign, plan: other, version: 1, as: .f16)
        #expect(throws: UpdateRefusal(.layoutMismatch, "blocks 0,1,2,4, expected 0,4")) { try EmulatorUpdate.apply(bytes, to: model, plan: plan) }
        // f16 on the wire: the blocks arrive rounded to half precision.
        let own = try EmulatorUpdate.encode(model, plan: plan, version: 2, as: .f16)
        let copy = try TransformerModel(config: mine.config, lora: nil, seed: 1, parameters: mine.parameters)
        #expect(try EmulatorUpdate.apply(own, to: copy, plan: plan) == 2)
        let sent = try model.blockParameters(plan.keptBlocks), got = try copy.blockParameters(plan.keptBlocks)
        #expect(zip(sent, got).allSatisfy { a, b in zip(a.values, b.values).allSatisfy { abs($0 - $1) <= 1e-3 * max(abs($0), 1e-2) } })
    }
}
