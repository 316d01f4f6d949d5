import Foundation
import Testing

@testable import Learning

/// The emulator's block choice is the paper's formula, m = round(n (1 − β)) (ties to
/// even) and ⌊i (n − 1)/(m − 1)⌋, and the emulator checkpoint keeps full-model names
/// for its blocks in the config.
@Suite struct EmulatorTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let n: Int, beta: Double, kept: [Int]
        var testDescription: String { "n=\(n) β=\(beta)" }
    }

    // Each row by hand: m first, then i·(n−1)/(m−1) floored.
    static let table: [Case] = [
        // m = 8: 0, 9/7, 18/7, 27/7, 36/7, 45/7, 54/7, 9 → 0 1 2 3 5 6 7 9
        Case(n: 10, beta: 0.2, kept: [0, 1, 2, 3, 5, 6, 7, 9]),
        // m = 5: 0, 9/4, 18/4, 27/4, 9 → 0 2 4 6 9
        Case(n: 10, beta: 0.5, kept: [0, 2, 4, 6, 9]),
        // 7.5 rounds to the even 8: as β = 0.2.
        Case(n: 10, beta: 0.25, kept: [0, 1, 2, 3, 5, 6, 7, 9]),
        // 6.5 rounds to the even 6: 0, 9/5, 18/5, 27/5, 36/5, 9 → 0 1 3 5 7 9
        Case(n: 10, beta: 0.35, kept: [0, 1, 3, 5, 7, 9]),
        // GPT-2 small's middle with a 2-block adapter, n = 10 … and n = 8 (4 blocks):
        // m = round(6.4) = 6: 0, 7/5, 14/5, 21/5, 28/5, 7 → 0 1 2 4 5 7
        Case(n: 8, beta: 0.2, kept: [0, 1, 2, 4, 5, 7]),
        // m = 4: 0, 7/3, 14/3, 7 → 0 2 4 7
        Case(n: 8, beta: 0.5, kept: [0, 2, 4, 7]),
        // β = 0 keeps everything.
        Case(n: 5, beta: 0, kept: [0, 1, 2, 3, 4]),
        // m = round(2.5) = 2 (even): only the two ends.
        Case(n: 5, beta: 0.5, kept: [0, 4]),
        // m = round(3.5) = 4 (even): 0, 4/3, 8/3, 4 → 0 1 2 4
        Case(n: 5, beta: 0.3, kept: [0, 1, 2, 4]),
        // The smallest middle: two blocks, both kept.
        Case(n: 2, beta: 0.2, kept: [0, 1]),
        // m = round(10.8) = 11 of 12: 0, 11/10, …, 11 → i·1.1 floored
        Case(n: 12, beta: 0.1, kept: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11]),
    ]

    @Test(arguments: table) func keptBlocksFollowTheFormula(_ row: Case) throws {
        #expect(try uniformStrideKeep(count: row.n, dropRatio: row.beta) == row.kept)
    }

    @Test func tiesRoundToTheEvenCount() {
        #expect(roundHalfToEven(7.5) == 8)
        #expect(roundHalfToEven(6.5) == 6)
        #expect(roundHalfToEven(2.5) == 2)
        #expect(roundHalfToEven(10 * (1 - 0.35)) == 6)  // 6.499999… in binary, a tie in decimals
        #expect(roundHalfToEven(6.4) == 6)
        #expect(roundHalfToEven(6.6) == 7)
    }

    @Test func fewerThanTwoKeptBlocksIsRefused() {
        #expect(throws: EmulatorError("drop ratio 0.8 keeps 1 of 4 middle blocks; the emulator needs at least 2 (the first and the last stay)")) {
            try uniformStrideKeep(count: 4, dropRatio: 0.8)
        }
        #expect(throws: EmulatorError("drop ratio 0.9 keeps 0 of 3 middle blocks; the emulator needs at least 2 (the first and the last stay)")) {
            try uniformStrideKeep(count: 3, dropRatio: 0.9)
        }
        #expect(throws: EmulatorError("the emulator compresses 1 middle block; it needs at least 2 (the first and the last stay)")) {
            try uniformStrideKeep(count: 1, dropRatio: 0)
        }
    }

    @Test func aDropRatioOutsideZeroToOneIsRefused() {
        for beta in [-0.1, 1, 1.5, Double.nan] {
            #expect(throws: EmulatorError("drop ratio must be in [0, 1) (got \(beta))")) { try uniformStrideKeep(count: 10, dropRatio: beta) }
        }
    }

    @Test func fedbiotAdapterIsTheLastBlocks() throws {
        let plan = try EmulatorPlan(fullLayers: 12, adapterBlocks: 2, dropRatio: 0.2, layout: .fedbiot)
        #expect(plan.adapterBlocks == [10, 11])
        #expect(plan.middleBlocks == Array(0..<10))
        #expect(plan.keptBlocks == [0, 1, 2, 3, 5, 6, 7, 9])
        #expect(plan.droppedBlocks == [4, 8])
        #expect(plan.emulatorBlocks == [0, 1, 2, 3, 5, 6, 7, 9, 10, 11])
        #expect(plan.upperAdapterBlocks == [10, 11] && plan.lowerAdapterBlocks.isEmpty)
    }

    @Test func offsiteAdapterIsTheFirstAndTheLastBlocks() throws {
        // The middle is blocks 2 … 9 (n = 8); β = 0.5 keeps positions 0 2 4 7.
        let plan = try EmulatorPlan(fullLayers: 12, adapterBlocks: 2, dropRatio: 0.5, layout: .offsite)
        #expect(plan.adapterBlocks == [0, 1, 10, 11])
        #expect(plan.middleBlocks == Array(2..<10))
        #expect(plan.keptBlocks == [2, 4, 6, 9])
        #expect(plan.emulatorBlocks == [0, 1, 2, 4, 6, 9, 10, 11])
        #expect(plan.lowerAdapterBlocks == [0, 1] && plan.upperAdapterBlocks == [10, 11])
    }

    @Test func anAdapterThatLeavesTooLittleToEmulateIsRefused() {
        #expect(throws: EmulatorError("an adapter of 3 blocks (fedbiot) leaves 1 of 4 blocks to emulate; at least 2 must remain")) {
            try EmulatorPlan(fullLayers: 4, adapterBlocks: 3, dropRatio: 0.2, layout: .fedbiot)
        }
        #expect(throws: EmulatorError("an adapter of 6 blocks (offsite) leaves 0 of 4 blocks to emulate; at least 2 must remain")) {
            try EmulatorPlan(fullLayers: 4, adapterBlocks: 3, dropRatio: 0.2, layout: .offsite)
        }
        #expect(throws: EmulatorError("adapter blocks must be at least 1 (got 0)")) {
            try EmulatorPlan(fullLayers: 4, adapterBlocks: 0, dropRatio: 0.2, layout: .fedbiot)
        }
    }

    /// Six GPT-2 blocks, adapter 1, β = 0.5 over the middle 0 … 4: m = round(2.5) = 2, kept 0 and 4.
    @Test func theEmulatorTakesTheKeptBlocksUnderTheirPositionsAndListsTheirIndices() throws {
        let full = ModelConfig(layers: 6, heads: 2, channels: 8, maxSequenceLength: 8, vocabularySize: 16)
        let model = TransformerModel(config: full, lora: nil, seed: 3)
        let tensors = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0) })
        let plan = try EmulatorPlan(fullLayers: 6, adapterBlocks: 1, dropRatio: 0.5, layout: .fedbiot)
        let emulator = try EmulatorModel(full: full, parameters: tensors, plan: plan)
        #expect(emulator.config.blocks == [0, 4, 5])
        #expect(emulator.parameters["h.1.attn.c_attn.weight"] == NamedTensor(name: "h.1.attn.c_attn.weight", shape: [8, 24],
                                                                             values: tensors["h.4.attn.c_attn.weight"]!.values))
        #expect(emulator.parameters["h.2.mlp.c_proj.bias"]?.values == tensors["h.5.mlp.c_proj.bias"]!.values)
        #expect(emulator.parameters["h.0.ln_1.weight"]?.values == tensors["h.0.ln_1.weight"]!.values)
        #expect(emulator.parameters["wte.weight"] == tensors["wte.weight"])
        #expect(emulator.parameters["h.3.ln_1.weight"] == nil)
        #expect(emulator.parameters.count == emulator.config.parameterShapes.count)

        // Written and read back: the config lists the source indices, the plan rides beside it.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("emulator-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try EmulatorCheckpoint.save(emulator, to: dir)
        let (config, parameters) = try Checkpoint.load(from: dir)
        #expect(config.blocks == [0, 4, 5])
        #expect(parameters["h.1.attn.c_attn.weight"]?.values == tensors["h.4.attn.c_attn.weight"]!.values)
        #expect(try EmulatorCheckpoint.loadPlan(from: dir) == plan)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
        #expect(json["starling_blocks"] as? [Int] == [0, 4, 5] && json["n_layer"] as? Int == 3)

        // An adapter on the emulator's last block is named after full-model block 5.
        var lora = LoRAConfig(rank: 2)
        lora.blocks = [5]
        let client = try TransformerModel(config: config, lora: lora, seed: 1, parameters: parameters)
        #expect(client.adapter().tensors.allSatisfy { $0.name.hasPrefix("h.5.") })
    }

    @Test func anEmulatorIsNotCutFromAnotherEmulator() throws {
        let full = ModelConfig(layers: 6, heads: 2, channels: 8, maxSequenceLength: 8, vocabularySize: 16)
        let partial = full.keepingBlocks(at: [0, 1, 2, 3, 5])
        let model = TransformerModel(config: partial, lora: nil, seed: 3)
        let tensors = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0) })
        let plan = try EmulatorPlan(fullLayers: 5, adapterBlocks: 1, dropRatio: 0.5, layout: .fedbiot)
        #expect(throws: EmulatorError("the base keeps only blocks [0, 1, 2, 3, 5] of another model; build the emulator from the full model")) {
            try EmulatorModel(full: partial, parameters: tensors, plan: plan)
        }
    }
}
